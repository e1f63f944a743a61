// From the configuration file to the planner's policy: which backends, which
// slot classes (server-template prefixes) and which defaults.
import type { HandlerConfig, ServiceConfig } from "../config/config.js";
import type { BackendPolicy, PlannerPolicy, SlotClass } from "../planner/model.js";
import type { MassRemovalPolicy } from "../planner/mass-removal.js";
import { selectionKey } from "../planner/selection.js";
import { WEIGHT } from "../haproxy-runtime-api/index.js";

function classesOf(service: ServiceConfig): SlotClass[] {
  const defaultClass: SlotClass = {
    prefix: service.slotPrefix,
    scheme: "http",
    sslVerify: true,
    timeoutClass: "default",
    // Only the default class grows: its keywords are known from the config.
    growKeywords: service.grow?.keywords ?? [],
    growLimit: service.grow?.limit ?? 0,
  };
  const extra = service.slotClasses.map<SlotClass>((slotClass) => ({
    prefix: slotClass.prefix,
    scheme: slotClass.scheme,
    sslVerify: slotClass.sslVerify,
    timeoutClass: slotClass.timeout,
    growKeywords: [],
    growLimit: 0,
  }));
  return [defaultClass, ...extra];
}

export function policyFromConfig(config: HandlerConfig): PlannerPolicy {
  const backends: BackendPolicy[] = [];
  for (const service of config.services) {
    const classes = classesOf(service);
    const versioning = service.versioning ? { versioning: { ...service.versioning } } : {};
    // Endpoints carry the key of the selection they were read with (source/consul-source.ts).
    const serviceName = selectionKey(service);
    backends.push({ backend: service.backend, role: "default", serviceName, classes, defaults: service.defaults, ...versioning });
    if (service.powBackend) {
      backends.push({ backend: service.powBackend, role: "pow", serviceName, classes, defaults: service.powDefaults, ...versioning });
    }
  }
  return {
    backends,
    warningAs: config.policy.warningAs,
    drainSeconds: config.policy.drainSeconds,
    holdDownUntilChecked: config.haproxy.holdDownUntilChecked,
    // The runtime API's limit, so the planner's canary weights never exceed what `set server ... weight` takes.
    maxWeight: WEIGHT.max,
  };
}

/**
 * The policy of a partial reconcile: only the backends that serve these
 * services (selection keys). The planner is called with it exactly as with
 * the whole policy.
 */
export function policyForServices(policy: PlannerPolicy, services: ReadonlySet<string>): PlannerPolicy {
  return { ...policy, backends: policy.backends.filter((backend) => services.has(backend.serviceName)) };
}

export function massRemovalPolicy(config: HandlerConfig): MassRemovalPolicy {
  return { maxRemovalFraction: config.policy.maxRemovalFraction, minNodes: config.policy.massRemovalMinNodes, holdSeconds: config.policy.massRemovalHoldSeconds };
}
