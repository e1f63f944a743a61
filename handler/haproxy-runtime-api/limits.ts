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

/**
 * A certificate file (`new/set/commit/abort/show ssl cert`) or a crt-list
 * (a crt-list file, or the directory of a bind's `crt <directory>`): how
 * HAProxy names it, and how the command line carries it. An absolute path of
 * letters, digits and `@ . _ -` between single slashes, no `.` or `..`
 * segment, no trailing slash (HAProxy keys its stores by the exact text, so a
 * path that is not already plain would name nothing), at most 1024 bytes.
 */
export const CERT_PATH_PATTERN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9@._-]+)+$/;
/** How CERT_PATH_PATTERN reads in an error message. */
export const CERT_PATH_RULE = "an absolute path of letters, digits and '@', '.', '_', '-' between single slashes, without '.' or '..' segments or a trailing slash (at most 1024)";
const CERT_PATH_MAX_BYTES = 1024;

/**
 * Endings a certificate file may not have. `set ssl cert x.key` (and .issuer,
 * .ocsp, .sctl) loads the payload as that one part of the store `x`, never as
 * a whole PEM; and HAProxy 2.6.12 (Debian 12's) cannot find a store named
 * `x.crt` for `set ssl cert` at all (HAProxy issue #2265, fixed in 2.9).
 */
export const CERT_FILE_REFUSED_ENDINGS: readonly string[] = Object.freeze([".crt", ".key", ".issuer", ".ocsp", ".sctl"]);

/** A crt-list file or a `crt` directory HAProxy can name on the command line. */
export function isCertPath(value: unknown): value is string {
  return typeof value === "string" && value.length <= CERT_PATH_MAX_BYTES && CERT_PATH_PATTERN.test(value);
}

/** A certificate file `set ssl cert` replaces as a whole PEM (see CERT_FILE_REFUSED_ENDINGS). */
export function isCertFile(value: unknown): value is string {
  return isCertPath(value) && !CERT_FILE_REFUSED_ENDINGS.some((ending) => value.endsWith(ending));
}

/**
 * The largest PEM payload `set ssl cert` is given. HAProxy reads a command
 * and its whole payload into one buffer of tune.bufsize (16 KB by default;
 * 2.6 closes the connection when it overflows, 3.0 and later answer "The
 * command is too big for the buffer size"); 12 KB leaves room for the
 * command line and holds a leaf, two intermediates and an RSA-4096 key.
 */
export const PEM_PAYLOAD_MAX_BYTES = 12 * 1024;

/** The PEM blocks a certificate payload may hold: certificates, and one private key. */
const PEM_LABELS = ["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"] as const;
/** One line of a PEM block's body: base64, padding only at its end (64 wide from openssl, 76 from some tools). */
const PEM_BODY_LINE = /^[A-Za-z0-9+/]{1,76}={0,2}$/;

/**
 * Why `text` is not a certificate payload `set ssl cert` may carry, or
 * undefined when it is one: only BEGIN/END blocks of CERTIFICATE (at least
 * one) and exactly one PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY, each
 * body base64 lines, nothing between the blocks; LF line ends, no empty line
 * (the runtime API ends a payload at the first empty line: what followed it
 * would run as commands), one final newline allowed; at most
 * PEM_PAYLOAD_MAX_BYTES. The reason names a line number, never the line: the
 * text holds a private key.
 */
export function pemPayloadProblem(text: unknown): string | undefined {
  if (typeof text !== "string") return "not text";
  if (Buffer.byteLength(text) > PEM_PAYLOAD_MAX_BYTES) return `longer than ${PEM_PAYLOAD_MAX_BYTES} bytes`;
  const lines = (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  let open: string | undefined;
  let bodyLines = 0;
  let certificates = 0;
  let keys = 0;
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1}`;
    if (line === "") return `${where} is empty (an empty line ends the payload)`;
    if (open === undefined) {
      const label = /^-----BEGIN ([A-Z ]+)-----$/.exec(line)?.[1];
      if (label === undefined) return `${where} is not a BEGIN line`;
      if (!(PEM_LABELS as readonly string[]).includes(label)) return `${where} begins a ${label} block, not one of ${PEM_LABELS.join(", ")}`;
      open = label;
      bodyLines = 0;
    } else if (line === `-----END ${open}-----`) {
      if (bodyLines === 0) return `${where} ends an empty ${open} block`;
      if (open === "CERTIFICATE") certificates += 1;
      else keys += 1;
      open = undefined;
    } else if (!PEM_BODY_LINE.test(line)) {
      return `${where} is neither base64 nor the END line of the ${open} block`;
    } else {
      bodyLines += 1;
    }
  }
  if (open !== undefined) return `the ${open} block has no END line`;
  if (certificates === 0) return "no CERTIFICATE block";
  if (keys !== 1) return `${keys} private keys (one is needed)`;
  return undefined;
}
