// The portmap into the running HAProxy (lb.render), for `run` as it follows
// the KV folder and for `sync --allow-mass-removal`, which releases an
// emptied portmap that `run` holds: both render through lb/apply.ts with the
// slots of the context's backends plus the portmap's own.
//
// A backend HAProxy has not loaded yet (a new entry) is rendered with its
// slots already filled from Consul, as the planner would fill them, so that
// the new listener serves from the new worker's first request instead of
// answering 503 until `run` has filled its slots over the admin socket.
// Those servers start UP, as any server HAProxy loads without a saved state:
// Consul said they pass, and HAProxy's checks take a failing one out.
import { acmeChallengeServer, applyLoadBalancer, type LbApplied } from "../lb/apply.js";
import { applyOperation } from "../haproxy-state/cache.js";
import type { PlannerPolicy, Slot } from "../planner/model.js";
import { planReconcile } from "../planner/plan.js";
import { UNREAD_SLOT_SETTINGS } from "../planner/slot-settings.js";
import { SLOT_PREFIX } from "../portmap/render.js";
import { endpointsFromSnapshots } from "../source/desired.js";
import { watchedSelections } from "./portmap-policy.js";
import { countRenderedListeners } from "../lb/files.js";
import { RELOAD_TIMEOUT_MS } from "../lb/master-reload.js";
import { readSlotsIn } from "../haproxy-state/reader.js";
import type { RuntimeCommand } from "../haproxy-runtime-api/index.js";
import { managedPrefixes } from "../planner/selection.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import { policyFor, type HandlerContext } from "./context.js";

/** Renders `spec` into HAProxy: unchanged, routes swapped over the runtime API, or a checked reload. */
export async function renderPortmap(context: HandlerContext, spec: LoadBalancerSpec): Promise<LbApplied> {
  const { config, haproxy } = context;
  const policy = policyFor(config, spec);
  const lbHaproxy = {
    showInfo: () => haproxy.showInfo(),
    serverStateText: () => haproxy.showServersStateText(),
    slots: async () => withNewBackendsFilled(context, spec, policy, await haproxy.session((session) => readSlotsIn(session, policy))),
    managed: managedPrefixes(policy),
    execute: (list: readonly RuntimeCommand[]) => haproxy.execute(list),
  };
  return applyLoadBalancer(spec, config.lb, lbHaproxy, RELOAD_TIMEOUT_MS, acmeChallengeServer(config.run.listen));
}

/**
 * The listeners HAProxy keeps from the rendered portmap although `spec` (the
 * folder as read now) has no entry: what `run` holds as a mass removal. 0 when
 * nothing is held (the folder has entries, lb.render is off, or the rendered
 * file has no listener).
 */
export function heldListeners(context: HandlerContext, spec: LoadBalancerSpec): number {
  const { lb } = context.config;
  if (!lb.enabled || !lb.render || spec.entries.length > 0) return 0;
  return countRenderedListeners(lb.configFile);
}

/** `loaded` (HAProxy's slots now) and, for each entry whose backend HAProxy lacks, its slots as `run` would fill them. */
async function withNewBackendsFilled(context: HandlerContext, spec: LoadBalancerSpec, policy: PlannerPolicy, loaded: Slot[]): Promise<Slot[]> {
  const present = new Set(loaded.map((slot) => slot.backend));
  const fresh = spec.entries.filter((entry) => !present.has(entry.backendName));
  if (fresh.length === 0) return loaded;
  const backends = new Set(fresh.map((entry) => entry.backendName));
  const freshPolicy: PlannerPolicy = { ...policy, backends: policy.backends.filter((backend) => backends.has(backend.backend)) };
  let snapshots;
  try {
    snapshots = await context.consul.readServices(watchedSelections({ services: [] }, { ...spec, entries: fresh }));
  } catch (error) {
    // Consul not trusted now: the new backends start empty and `run` fills them once it is.
    context.logger.warn("the new portmap backends start with empty slots: Consul's answer is not trusted now", { detail: (error as Error).message });
    return loaded;
  }
  const { endpoints } = endpointsFromSnapshots(snapshots, context.logger);
  const slots = fresh.flatMap((entry) => Array.from({ length: entry.slots }, (_, index) => freeSlot(entry.backendName, index + 1)));
  const bySlot = new Map(slots.map((slot) => [`${slot.backend}/${slot.name}`, slot]));
  for (const step of planReconcile(endpoints, slots, freshPolicy).steps) {
    const slot = bySlot.get(`${step.backend}/${step.server}`);
    if (slot) for (const operation of [...step.prepare, ...step.activate]) applyOperation(slot, operation);
  }
  return [...loaded, ...slots];
}

/** A template slot as a fresh HAProxy has it: no address, in maintenance. */
function freeSlot(backend: string, number: number): Slot {
  return { ...UNREAD_SLOT_SETTINGS, backend, name: `${SLOT_PREFIX}${number}`, prefix: SLOT_PREFIX, number, status: "MAINT", checksEnabled: true, sessions: 0, secondsSinceChange: 0 };
}
