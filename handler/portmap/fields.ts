// The strict whitelist of every portmap field: what reaches the rendered HAProxy
// configuration is only ever a string one of these accepted, so no value can end
// a configuration line, start a comment or a quoted word, or begin another directive.
import { isIP } from "node:net";

/** A Consul service name as the handler's config takes it: letters, digits, '_' and '-'. */
export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** A URL path prefix: '/' then unreserved characters and '/' only (no '%', no query). */
export const PATH_PREFIX = /^\/[A-Za-z0-9._~/-]{0,255}$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Digits only, no sign: every number in the portmap is a plain decimal. */
const DECIMAL = /^[0-9]{1,10}$/;
const DURATION = /^([0-9]{1,9})(ms|s|m|h)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function isHostName(value: string): boolean {
  return value.length <= 253 && value.split(".").every((label) => DNS_LABEL.test(label));
}

/** A decimal integer within [min, max], or undefined. */
export function decimalIn(value: string, min: number, max: number): number | undefined {
  if (!DECIMAL.test(value)) return undefined;
  const number = Number(value);
  return number >= min && number <= max ? number : undefined;
}

export function portNumber(value: string): number | undefined {
  return decimalIn(value, 1, 65535);
}

/** HAProxy's time format without microseconds: `<n>[ms|s|m|h]`, ms when no unit; 1 ms to 24 h. */
export function durationMs(value: string): number | undefined {
  const match = DURATION.exec(value);
  if (match === null) return undefined;
  const ms = Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? "ms"] ?? 1);
  return ms >= 1 && ms <= 86_400_000 ? ms : undefined;
}

/** An IPv4 or IPv6 address with an optional prefix length, as HAProxy's `src` ACL takes it. */
export function isIpPrefix(value: string): boolean {
  // Node's isIP also takes an IPv6 zone ("fe80::1%eth0"): nothing but digits, hex, '.', ':' and '/' here.
  if (!/^[0-9A-Fa-f.:/]+$/.test(value)) return false;
  const [address = "", length, extra] = value.split("/");
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  return length === undefined || decimalIn(length, 0, family === 4 ? 32 : 128) !== undefined;
}

/** How a refused character is shown: JSON escapes make a line break or a quote visible. */
export function showCharacter(character: string): string {
  return `${JSON.stringify(character)} (U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")})`;
}

/** A user's value quoted for an error message: escaped and cut short. */
export function showValue(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}
