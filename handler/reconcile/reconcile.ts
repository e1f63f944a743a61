// One reconcile: read desired state (Consul) and actual state (HAProxy), plan
// with the pure planner, apply in batches, and log what happened. Every
// trigger (sync, watch, run) ends up here, so re-running is always safe.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { RuntimeApiClient, RuntimeApiError, commands, parseShowServersState, parseShowStat } from "../haproxy-runtime-api/index.js";
import { ConsulSource, type ServiceSnapshot } from "../source/consul-source.js";
import { endpointFromEntry, type Rejection } from "../source/node-settings.js";
import { planReconcile } from "../planner/plan.js";
import { slotsFromRuntime } from "../planner/slots.js";
import type { Endpoint, Plan, PlannerPolicy, Slot } from "../planner/model.js";
import { applyPlan, planCommands, type ApplyReport } from "../applier/apply.js";
import { policyFromConfig, managedPrefixes } from "./policy.js";

export interface HandlerContext {
  config: HandlerConfig;
  logger: Logger;
  consul: ConsulSource;
  haproxy: RuntimeApiClient;
  policy: PlannerPolicy;
}

export function createContext(config: HandlerConfig, logger: Logger): HandlerContext {
  return {
    config,
    logger,
    consul: new ConsulSource(config.consul),
    haproxy: new RuntimeApiClient(config.haproxy.socket, { timeoutMs: config.haproxy.timeoutMs }),
    policy: policyFromConfig(config),
  };
}

export interface DesiredState {
  endpoints: Endpoint[];
  rejected: Rejection[];
}

/** Validates every entry; a bad one is left out and logged, the rest go on. */
export function endpointsFromSnapshots(snapshots: readonly ServiceSnapshot[], logger: Logger): DesiredState {
  const endpoints: Endpoint[] = [];
  const rejected: Rejection[] = [];
  for (const snapshot of snapshots) {
    for (const reason of snapshot.malformed) logger.warn("malformed Consul entry left out", { service: snapshot.service, reason });
    for (const entry of snapshot.entries) {
      const result = endpointFromEntry(entry);
      if (result.ok) {
        // The health endpoint is per service name; belt and braces against a mismatched payload.
        if (result.endpoint.serviceName !== snapshot.service) result.endpoint.serviceName = snapshot.service;
        endpoints.push(result.endpoint);
        if (result.ignoredKeys.length > 0) logger.warn("unknown haproxy settings ignored", { serviceId: result.endpoint.serviceId, keys: result.ignoredKeys });
      } else {
        rejected.push(result.rejection);
        logger.warn("node left out: invalid setting", { ...result.rejection });
      }
    }
  }
  return { endpoints, rejected };
}

export async function readDesired(context: HandlerContext): Promise<DesiredState> {
  const snapshots = await context.consul.readServices(context.config.services.map((service) => service.name));
  return endpointsFromSnapshots(snapshots, context.logger);
}

/** Reads every managed backend's slots on one connection. */
export async function readSlots(context: HandlerContext): Promise<Slot[]> {
  const [states, stats] = await context.haproxy.execute([commands.showServersState(), commands.showStat()]);
  if (!states?.ok || !stats?.ok) {
    throw new RuntimeApiError(`HAProxy refused to show its servers: ${(states?.ok ? stats?.output : states?.output)?.trim() ?? "no reply"}; is the socket at level admin?`);
  }
  return slotsFromRuntime(parseShowServersState(states.output), parseShowStat(stats.output), managedPrefixes(context.policy));
}

export interface ReconcileOutcome {
  plan: Plan;
  /** Exact commands (also filled on a dry run). */
  commands: string[];
  report?: ApplyReport;
  endpoints: number;
  rejected: Rejection[];
  durationMs: number;
}

export function logPlanProblems(plan: Plan, logger: Logger): void {
  for (const left of plan.leftOut) logger.error("node left out", { ...left });
}

export async function reconcileWith(context: HandlerContext, desired: DesiredState, options: { dryRun?: boolean } = {}): Promise<ReconcileOutcome> {
  const started = process.hrtime.bigint();
  const slots = await readSlots(context);
  const plan = planReconcile(desired.endpoints, slots, context.policy);
  logPlanProblems(plan, context.logger);
  const commands = planCommands(plan.steps);
  const outcome: ReconcileOutcome = { plan, commands, endpoints: desired.endpoints.length, rejected: desired.rejected, durationMs: 0 };
  if (!options.dryRun && plan.steps.length > 0) {
    const report = await applyPlan(context.haproxy, plan.steps);
    outcome.report = report;
    const verbose = report.applied.length <= 20;
    if (verbose) {
      for (const step of report.applied) context.logger.info(step.reason, { slot: `${step.backend}/${step.server}`, serviceId: step.serviceId });
    }
    for (const failure of report.failures) {
      context.logger.error("HAProxy refused a command; the slot was not enabled", {
        slot: `${failure.step.backend}/${failure.step.server}`,
        serviceId: failure.step.serviceId,
        command: failure.command,
        reply: failure.reply,
      });
    }
  }
  outcome.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  context.logger.info("reconciled", {
    endpoints: outcome.endpoints,
    steps: plan.steps.length,
    applied: outcome.report?.applied.length ?? 0,
    failed: outcome.report?.failures.length ?? 0,
    leftOut: plan.leftOut.length,
    draining: plan.draining,
    dryRun: options.dryRun === true,
    ms: Math.round(outcome.durationMs * 10) / 10,
  });
  return outcome;
}

/** Fresh reads of both sides, then plan and apply. Throws ConsulUntrusted (HAProxy untouched). */
export async function reconcile(context: HandlerContext, options: { dryRun?: boolean } = {}): Promise<ReconcileOutcome> {
  const desired = await readDesired(context);
  return reconcileWith(context, desired, options);
}

/**
 * For the exit code: a reconcile succeeded when every step applied and no
 * node was left out for want of a slot or class. (Nodes with invalid
 * settings are the registration's problem: logged, not a failure here.)
 */
export function reconcileSucceeded(outcome: ReconcileOutcome): boolean {
  return (outcome.report?.failures.length ?? 0) === 0 && outcome.plan.leftOut.length === 0;
}
