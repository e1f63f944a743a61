// `check-config`: the config is valid, Consul answers with a trustworthy
// view, HAProxy's admin socket answers at admin level, and every configured
// backend and slot prefix exists there. Each check prints one line.
import { nodesLeftOut, readDesired, type DesiredState, type HandlerContext } from "../reconcile/reconcile.js";
import { planReconcile } from "../planner/plan.js";
import { managedPrefixes } from "../reconcile/policy.js";
import { slotsFromRuntime } from "../planner/slots.js";
import { describeConnection } from "../source/consul-connection.js";

export interface CheckResult {
  ok: boolean;
  /** Not a failure, but something the operator should see (a node left out). */
  warning?: boolean;
  what: string;
  detail: string;
}

export async function checkConfig(context: HandlerContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ ok: true, what: "config", detail: `${context.config.services.length} service(s), ${context.policy.backends.length} backend(s)` }];

  // Each connection setting with where it came from (config > environment > default); never the token.
  for (const row of describeConnection(context.consul.connection)) {
    results.push({ ok: true, what: `consul.${row.key}`, detail: `${row.value} (from ${row.origin})` });
  }
  let desired: DesiredState | undefined;
  try {
    desired = await readDesired(context);
    results.push({ ok: true, what: "consul", detail: `${context.consul.connection.address.value}: ${desired.endpoints.length} valid instance(s), ${desired.rejected.length} left out for invalid settings` });
  } catch (error) {
    results.push({ ok: false, what: "consul", detail: (error as Error).message });
  }

  try {
    const info = await context.haproxy.showInfo();
    results.push({ ok: true, what: "haproxy", detail: `${context.config.haproxy.socket}: HAProxy ${info.version}, pid ${info.pid}` });
    // Unfiltered reads: a backend missing from HAProxy is a finding, not an error.
    const stats = await context.haproxy.showStat();
    const slots = slotsFromRuntime(await context.haproxy.showServersState(), stats, managedPrefixes(context.policy));
    const backendsPresent = new Set(stats.filter((row) => row.svname === "BACKEND").map((row) => row.pxname));
    for (const [backend, prefixes] of managedPrefixes(context.policy)) {
      if (!backendsPresent.has(backend)) {
        results.push({ ok: false, what: `backend ${backend}`, detail: "not found in HAProxy; check the backend names in the config against haproxy.cfg" });
        continue;
      }
      for (const prefix of prefixes) {
        const count = slots.filter((slot) => slot.backend === backend && slot.prefix === prefix).length;
        results.push(
          count > 0
            ? { ok: true, what: `slots ${backend}/${prefix}`, detail: `${count} slot(s)` }
            : { ok: false, what: `slots ${backend}/${prefix}`, detail: `no server named ${prefix}<N>; add 'server-template ${prefix} 1-<N> 0.0.0.0:80 check disabled init-addr none' to backend ${backend}` },
        );
      }
    }
    // The nodes that would be missing from each backend, and why (the same list as status and sync --dry-run).
    if (desired) {
      for (const [backend, nodes] of nodesLeftOut(context.policy, desired.rejected, planReconcile(desired.endpoints, slots, context.policy))) {
        for (const node of nodes) results.push({ ok: true, warning: true, what: `node ${node.serviceId} left out of ${backend}`, detail: node.reason });
      }
    }
  } catch (error) {
    results.push({ ok: false, what: "haproxy", detail: (error as Error).message });
  }
  return results;
}
