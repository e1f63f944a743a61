// The portmap into the running HAProxy (lb.render), for `run` as it follows
// the KV folder and for `sync --allow-mass-removal`, which releases an
// emptied portmap that `run` holds: both render through lb/apply.ts with the
// slots of the context's backends plus the portmap's own.
import { applyLoadBalancer, type LbApplied } from "../lb/apply.js";
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
    slots: () => haproxy.session((session) => readSlotsIn(session, policy)),
    managed: managedPrefixes(policy),
    execute: (list: readonly RuntimeCommand[]) => haproxy.execute(list),
  };
  return applyLoadBalancer(spec, config.lb, lbHaproxy, RELOAD_TIMEOUT_MS);
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
