// How the commands report nodes that a backend does not serve: `sync`,
// `status` and `check-config` list them per backend with the reason.
import type { Plan, PlannerPolicy } from "../planner/model.js";
import type { Rejection } from "../source/node-settings.js";
import type { RejectedNode } from "../source/desired.js";

export interface NodeLeftOut {
  serviceId: string;
  reason: string;
}

/** How a rejection reads to an operator: the setting, its value and what is expected. */
export function describeRejection(rejection: Rejection): string {
  if (rejection.key === "entry") return `malformed Consul entry: ${rejection.reason}`;
  return `${rejection.key} ${JSON.stringify(rejection.value)}: ${rejection.reason}`;
}

/**
 * Every node missing from each managed backend and why: rejected before
 * planning (invalid settings, listed under every backend of its service) or
 * left out by the plan (no slot, no class, a duplicate address).
 */
export function nodesLeftOut(policy: PlannerPolicy, rejected: readonly RejectedNode[], plan: Plan): Map<string, NodeLeftOut[]> {
  const byBackend = new Map<string, NodeLeftOut[]>();
  for (const backend of policy.backends) {
    const list = byBackend.get(backend.backend) ?? [];
    for (const rejection of rejected) if (rejection.service === backend.serviceName) list.push({ serviceId: rejection.serviceId, reason: describeRejection(rejection) });
    for (const left of plan.leftOut) if (left.backend === backend.backend) list.push({ serviceId: left.serviceId, reason: left.reason });
    byBackend.set(backend.backend, list);
  }
  return byBackend;
}

