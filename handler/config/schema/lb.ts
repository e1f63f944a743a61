import type { LoadBalancerConfig } from "../types.js";
import { boolean, text, type Table } from "./field.js";

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
};
