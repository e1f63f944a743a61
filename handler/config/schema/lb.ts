import type { LoadBalancerConfig } from "../types.js";
import { isIP } from "node:net";
import { boolean, describe, integer, text, type Table } from "./field.js";

/** What the renderer accepts in a path it writes into HAProxy's configuration (portmap/render.ts). */
const SAFE_PATH = /^\/[A-Za-z0-9@._/-]*$/;
const PATH_HINT = "an absolute path of letters, digits and @ . _ / -";

/**
 * A KV folder: path segments of letters, digits, `_`, `.` and `-`, ending in
 * `/` so that `lb/default/` never also reads `lb/default-2/`. No `..` segment
 * and no leading `/`: the prefix is put into the request's path as written.
 */
export function isKvFolder(prefix: string): boolean {
  return /^([A-Za-z0-9_.-]+\/)+$/.test(prefix) && !prefix.split("/").some((segment) => segment === "." || segment === "..");
}

export const lbTable: Table<LoadBalancerConfig> = {
  kvPrefix: text({
    doc: "The Consul KV folder of this tier's portmap (Moirai's keys); check-config reads and validates it.",
    default: "consul-haproxy-handler/lb/default/",
    valid: isKvFolder,
    hint: "a KV folder ending in '/', e.g. consul-haproxy-handler/lb/default/",
  }),
  enabled: boolean({ doc: "`run` fills the slots of the portmap's backends from Consul; HAProxy must have them loaded (docs/portmap.md).", default: false }),
  render: boolean({ doc: "`run` also writes the rendered portmap to configFile and reloads HAProxy over masterSocket when it changes (needs enabled).", default: false }),
  configFile: text({ doc: "The rendered portmap: a `-f` of HAProxy's unit, after its main configuration.", default: "/etc/haproxy/portmap.cfg", valid: SAFE_PATH, hint: PATH_HINT }),
  mapDirectory: text({ doc: "Where the route maps are written (named in the rendered configuration).", default: "/etc/haproxy/portmap-maps", valid: SAFE_PATH, hint: PATH_HINT }),
  certDirectory: text({ doc: "The certificates (PEM with key) that TLS-ending listeners present, chosen by SNI.", default: "/etc/haproxy/certs", valid: SAFE_PATH, hint: PATH_HINT }),
  caFile: text({
    // Not @system-ca by default: HAProxy 2.6 puts a global ca-base (Debian's haproxy.cfg has one) in front of it.
    doc: "The CA bundle that verifies the node certificates of `https` entries (a PEM file, by default Debian's system bundle; `@system-ca` where haproxy.cfg has no ca-base).",
    default: "/etc/ssl/certs/ca-certificates.crt",
    valid: (value) => value === "@system-ca" || SAFE_PATH.test(value),
    hint: `@system-ca, or ${PATH_HINT}`,
  }),
  bindAddress: {
    doc: "The address the portmap's listeners bind to; \"\" binds every address.",
    default: "",
    check: (value, path, problems) => {
      if (typeof value === "string" && (value === "" || isIP(value) !== 0)) return value;
      problems.push(`${path}: expected an IPv4 or IPv6 address, or "" for every address, got ${describe(value)}`);
      return undefined;
    },
  },
  checkWith: {
    doc: "The files HAProxy loads before configFile, in order: `haproxy -c` checks them with the rendering before any reload.",
    default: ["/etc/haproxy/haproxy.cfg"],
    check: (value, path, problems) => {
      if (Array.isArray(value) && value.length > 0 && value.every((file) => typeof file === "string" && SAFE_PATH.test(file))) return value as string[];
      problems.push(`${path}: expected a list of ${PATH_HINT}s (the files before configFile, in HAProxy's order), got ${describe(value)}`);
      return undefined;
    },
  },
  haproxyBinary: text({ doc: "The haproxy program that checks the configuration.", default: "/usr/sbin/haproxy", valid: SAFE_PATH, hint: PATH_HINT }),
  masterSocket: text({ doc: "HAProxy's master CLI socket (its -S), which the handler's user may open.", default: "/run/haproxy-master.sock", valid: SAFE_PATH, hint: PATH_HINT }),
  serverStateFile: text({ doc: "HAProxy's global server-state-file, saved before each reload so that the new worker keeps every slot.", defaultText: "no file", valid: SAFE_PATH, hint: PATH_HINT }),
  certificateStateDirectory: text({
    doc: "The certificates named by certificate_name: records, account key and bundles (0700); not certDirectory, which HAProxy loads whole.",
    default: "/var/lib/consul-haproxy-handler/certificates",
    valid: SAFE_PATH,
    hint: PATH_HINT,
  }),
  cookieKeyFile: text({ doc: "The secret of sticky:cookie entries' dynamic cookies; created once (0600) when missing.", default: "/var/lib/consul-haproxy-handler/cookie-key", valid: SAFE_PATH, hint: PATH_HINT }),
  certificateCheckSeconds: integer(1, 86_400, {
    doc: "`run` looks for due certificate orders (a renewal, a failed order's retry) this often, besides right after each rendering.",
    default: 60,
  }),
};

export function checkLb(lb: LoadBalancerConfig, path: string, problems: string[]): void {
  if (lb.render && !lb.enabled) problems.push(`${path}.render: true needs ${path}.enabled: true (the handler renders the portmap it follows); set both, or neither`);
  const bare = (directory: string): string => directory.replace(/\/+$/, "");
  if (bare(lb.certificateStateDirectory) === bare(lb.certDirectory)) {
    problems.push(`${path}.certificateStateDirectory: it is ${path}.certDirectory too, whose every file HAProxy loads as a certificate (the records and the account key are not); give it a directory of its own`);
  }
}
