// The portmap's entries as the planner's backends and as services to watch
// (issue 17). Each entry's backend `pm_<listen port>_<service>` takes every
// instance of its Consul service into its `pm` slots, at the entry's port when
// it has one; `health:` says whether warning instances serve. The per-node
// settings (weight, maxconn, drain, maintenance) apply as in any backend.
import type { HandlerConfig } from "../config/config.js";
import type { BackendPolicy, SlotClass } from "../planner/model.js";
import { selectionKey, type ServiceSelection } from "../planner/selection.js";
import { SLOT_PREFIX } from "../portmap/render.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";

/** What a slot of a portmap backend is reset to: HAProxy's own defaults, as a fresh template slot has them. */
const ENTRY_DEFAULTS = { weight: 1, maxconn: 0 };

/** The one slot class of an entry: its type sets TLS and checks on the template line for every node. */
const ENTRY_CLASS: SlotClass = { prefix: SLOT_PREFIX, scheme: "http", sslVerify: false, timeoutClass: "default", growKeywords: [], growLimit: 0 };

export function portmapBackends(spec: Pick<LoadBalancerSpec, "entries">): BackendPolicy[] {
  return spec.entries.map((entry) => ({
    backend: entry.backendName,
    role: "default",
    serviceName: selectionKey({ name: entry.service }),
    classes: [ENTRY_CLASS],
    defaults: ENTRY_DEFAULTS,
    everyNode: true,
    mayBeMissing: true,
    ...(entry.servicePort !== undefined ? { port: entry.servicePort } : {}),
    warningAs: entry.health === "warning" ? "ready" : "drain",
  }));
}

/** The services `run` watches: the configured ones and the portmap's, each selection once. */
export function watchedSelections(config: Pick<HandlerConfig, "services">, spec: LoadBalancerSpec | undefined): ServiceSelection[] {
  const selections = new Map<string, ServiceSelection>();
  for (const service of config.services) {
    const key = selectionKey(service);
    if (!selections.has(key)) selections.set(key, service);
  }
  for (const entry of spec?.entries ?? []) {
    const key = selectionKey({ name: entry.service });
    if (!selections.has(key)) selections.set(key, { name: entry.service });
  }
  return [...selections.values()];
}

/** What the planner and the watches take from a portmap: two specs with the same text need no new context. */
export function portmapMembership(spec: LoadBalancerSpec | undefined): string {
  return JSON.stringify(portmapBackends(spec ?? { entries: [] }).sort((a, b) => (a.backend < b.backend ? -1 : a.backend > b.backend ? 1 : 0)));
}

/**
 * What `run` does with a portmap just read, against the one it applies:
 * nothing when the backends would be the same; hold when every entry would
 * go at once (an emptied folder reads like a lost KV store: fail static, as
 * the mass-removal guard does for nodes); otherwise apply it.
 */
export function portmapChange(applied: LoadBalancerSpec | undefined, next: LoadBalancerSpec): "none" | "held" | "apply" {
  if (portmapMembership(applied) === portmapMembership(next)) return "none";
  if (next.entries.length === 0 && (applied?.entries.length ?? 0) > 0) return "held";
  return "apply";
}
