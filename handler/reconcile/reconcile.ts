// One reconcile: read desired state (Consul) and actual state (HAProxy), plan
// with the pure planner, apply in batches, and log what happened. Every
// trigger (sync, watch, run) ends up here, so re-running is always safe.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { RuntimeApiClient, RuntimeApiError, commands, parseShowServersState, parseShowStat, type RuntimeSession } from "../haproxy-runtime-api/index.js";
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

/** A node left out before planning (invalid settings or a malformed entry), with the selection it came from. */
export interface RejectedNode extends Rejection {
  /** selectionKey() of the service it was read for: it is missing from that service's backends. */
  service: string;
}

export interface DesiredState {
  endpoints: Endpoint[];
  rejected: RejectedNode[];
}

/** Validates every entry; a bad one is left out and logged, the rest go on. */
export function endpointsFromSnapshots(snapshots: readonly ServiceSnapshot[], logger: Logger): DesiredState {
  const endpoints: Endpoint[] = [];
  const rejected: RejectedNode[] = [];
  for (const snapshot of snapshots) {
    for (const reason of snapshot.malformed) {
      logger.warn("malformed Consul entry left out", { service: snapshot.service, reason });
      rejected.push({ service: snapshot.key, serviceId: "(malformed entry)", key: "entry", value: "", reason });
    }
    for (const entry of snapshot.entries) {
      const result = endpointFromEntry(entry);
      if (result.ok) {
        // Backends are matched by selection (name, tag, filter), not by the name alone.
        result.endpoint.serviceName = snapshot.key;
        endpoints.push(result.endpoint);
        for (const warning of result.warnings) logger.warn(`setting ignored: ${warning}`, { serviceId: result.endpoint.serviceId });
      } else {
        rejected.push({ ...result.rejection, service: snapshot.key });
        logger.warn("node left out: invalid setting", { ...result.rejection });
      }
    }
  }
  return { endpoints, rejected };
}

export async function readDesired(context: HandlerContext): Promise<DesiredState> {
  const snapshots = await context.consul.readServices(context.config.services);
  return endpointsFromSnapshots(snapshots, context.logger);
}

/**
 * Reads the managed backends' slots on an open session: `show servers state`
 * and `show stat` (servers only) per backend, so the output to parse stays
 * proportional to what the handler manages.
 */
/** The `show stat` columns the slots need (see slots.ts). */
const STAT_COLUMNS = ["status", "slim", "scur", "lastchg"] as const;

export async function readSlotsIn(session: RuntimeSession, policy: PlannerPolicy): Promise<Slot[]> {
  const managed = managedPrefixes(policy);
  const backends = [...managed.keys()];
  const replies = await session.execute(backends.flatMap((backend) => [commands.showServersState(backend), commands.showStat(backend)]));
  const refused = replies.find((reply) => !reply.ok);
  if (refused) {
    throw new RuntimeApiError(`HAProxy refused '${refused.command}': ${refused.output.trim()}; check the backend names in the config (check-config) and that the socket is at level admin`);
  }
  const states = replies.filter((_, index) => index % 2 === 0).flatMap((reply) => parseShowServersState(reply.output));
  const stats = replies.filter((_, index) => index % 2 === 1).flatMap((reply) => parseShowStat(reply.output, STAT_COLUMNS));
  return slotsFromRuntime(states, stats, managed);
}

export function readSlots(context: HandlerContext): Promise<Slot[]> {
  return context.haproxy.session((session) => readSlotsIn(session, context.policy));
}

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

export interface ReconcileOutcome {
  plan: Plan;
  /** The exact commands, on a dry run only. */
  commands: string[];
  report?: ApplyReport;
  endpoints: number;
  rejected: RejectedNode[];
  durationMs: number;
}

export function logPlanProblems(plan: Plan, logger: Logger): void {
  for (const left of plan.leftOut) logger.error("node left out", { ...left });
}

export async function reconcileWith(context: HandlerContext, desired: DesiredState, options: { dryRun?: boolean } = {}): Promise<ReconcileOutcome> {
  const started = process.hrtime.bigint();
  // One connection per reconcile: read the slots, then apply on the same one.
  const { plan, report } = await context.haproxy.session(async (session) => {
    const slots = await readSlotsIn(session, context.policy);
    const planned = planReconcile(desired.endpoints, slots, context.policy);
    const applied = !options.dryRun && planned.steps.length > 0 ? await applyPlan(session, planned.steps) : undefined;
    return { plan: planned, report: applied };
  });
  logPlanProblems(plan, context.logger);
  // The command texts are only needed to show them (dry run); the applier builds its own.
  const commands = options.dryRun ? planCommands(plan.steps) : [];
  const outcome: ReconcileOutcome = { plan, commands, endpoints: desired.endpoints.length, rejected: desired.rejected, durationMs: 0 };
  if (report) {
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
