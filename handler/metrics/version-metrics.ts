// The versioning part of /metrics: which generation serves each service,
// and how often the serving generation switched.
import type { Plan } from "../planner/model.js";
import type { HandlerMetrics } from "./handler-metrics.js";

export function recordVersionMetrics(metrics: HandlerMetrics, plan: Plan): void {
  metrics.servingVersion.replaceAll(
    plan.versions.filter((decision) => decision.serving !== undefined).map((decision) => ({ labels: { service: decision.serviceName, version: decision.serving ?? "" }, value: 1 })),
  );
  for (const decision of plan.versions) {
    if (decision.switchReason !== undefined) metrics.versionSwitches.inc({ service: decision.serviceName });
  }
}
