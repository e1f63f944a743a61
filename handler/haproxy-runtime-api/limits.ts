// What HAProxy's runtime API accepts, in one place: the command builders
// (commands.ts) refuse anything else, and the handler's configuration and
// per-node settings check their values against the same rules, so a value
// that passes those checks is never refused when it becomes a command.
import { isIP } from "node:net";

/** An inclusive range of whole numbers. */
export interface WholeNumberRange {
  readonly min: number;
  readonly max: number;
}

/** Server weight: HAProxy's largest is 256; 0 takes no new traffic. */
export const WEIGHT: WholeNumberRange = Object.freeze({ min: 0, max: 256 });
/** Server maxconn: 0 is no limit. The upper bound is the handler's, well above any real server. */
export const MAXCONN: WholeNumberRange = Object.freeze({ min: 0, max: 1_000_000 });
/** A TCP port a server listens on. */
export const PORT: WholeNumberRange = Object.freeze({ min: 1, max: 65535 });
/** A server's id in its backend (`srv_id`; HAProxy numbers them from 1, as a signed 32-bit int). */
export const SERVER_ID: WholeNumberRange = Object.freeze({ min: 1, max: 2_147_483_647 });

/**
 * Proxy and server names (and server-template prefixes): HAProxy allows
 * letters, digits, '-', '_', '.' and ':'; strict on purpose, since a name
 * is written into a command line.
 */
export const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** How NAME_PATTERN reads in an error message. */
export const NAME_RULE = "letters, digits, '_', '.', ':' or '-' (at most 64)";

/** `add server` keywords and their values (e.g. `check`, `inter`, `2s`, `/etc/ssl/ca.pem`). */
export const KEYWORD_PATTERN = /^[A-Za-z0-9_.:/-]{1,128}$/;
/** How KEYWORD_PATTERN reads in an error message. */
export const KEYWORD_RULE = "letters, digits, '_', '.', ':', '/' or '-' (at most 128)";

/** A proxy or server name HAProxy accepts. */
export function isName(value: unknown): value is string {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

/** A server keyword or keyword value `add server` accepts. */
export function isKeyword(value: unknown): value is string {
  return typeof value === "string" && KEYWORD_PATTERN.test(value);
}

/**
 * An IPv4 or IPv6 literal without a zone ID. isIP already refuses host
 * names, ports, spaces and ';'; a zone (`fe80::1%eth0`) is refused too,
 * since `set server ... addr` does not take one.
 */
export function isIpLiteral(value: unknown): value is string {
  return typeof value === "string" && isIP(value) !== 0 && !value.includes("%");
}

/** A whole number within the range (inclusive). */
export function isWithin(value: unknown, range: WholeNumberRange): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= range.min && value <= range.max;
}

/** "a whole number from 0 to 256": the range as an error message says it. */
export function describeRange(range: WholeNumberRange): string {
  return `a whole number from ${range.min} to ${range.max}`;
}
