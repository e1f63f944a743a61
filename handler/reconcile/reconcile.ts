// One reconcile: read desired state (Consul) and actual state (HAProxy), plan
// with the pure planner, apply in batches, and log what happened. Every
// trigger (sync, watch, run) ends up here, so re-running is always safe.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { RuntimeApiClient, RuntimeApiError, commands, parseShowServersState, parseShowStat, type RuntimeSession } from "../haproxy-runtime-api/index.js";
import { ConsulSource, selectionKey, type ServiceSnapshot } from "../source/consul-source.js";
import { endpointFromEntry, type Rejection } from "../source/node-settings.js";
import { PromotionStore } from "../source/promotion.js";
import { planReconcile } from "../planner/plan.js";
import { slotsFromRuntime } from "../planner/slots.js";
import type { Endpoint, Plan, PlannerPolicy, Slot } from "../planner/model.js";
import { applyPlan, planCommands, type ApplyReport } from "../applier/apply.js";
import { policyFromConfig, managedPrefixes } from "./policy.js";
import { describeHold, guardMassRemoval, type HeldRemoval, type MassRemovalPolicy, type ReleasedRemoval } from "./mass-removal.js";
import { loadGuardMemory, saveGuardMemory } from "./mass-removal-store.js";
import { keepSlotsFile } from "./slots-file.js";

export interface HandlerContext {
  config: HandlerConfig;
  logger: Logger;
  consul: ConsulSource;
  haproxy: RuntimeApiClient;
  policy: PlannerPolicy;
  /** The operator's promoted versions (Consul KV), for services with versioning. */
  promotions: PromotionStore;
}

export function createContext(config: HandlerConfig, logger: Logger): HandlerContext {
  return {
    config,
    logger,
    consul: new ConsulSource(config.consul),
    haproxy: new RuntimeApiClient(config.haproxy.socket, { timeoutMs: config.haproxy.timeoutMs }),
    policy: policyFromConfig(config),
    promotions: new PromotionStore(config.consul),
  };
}

/** Services with versioning on (Consul names, each once): only these need their promoted version read. */
export function versionedServices(context: HandlerContext): string[] {
  return [...new Set(context.config.services.filter((service) => service.versioning).map((service) => service.name))];
}

/**
 * Reads the promoted versions (fail static: a KV error throws ConsulUntrusted,
 * HAProxy untouched), keyed like the planner's backends: by selectionKey().
 * A promotion is kept under the plain service name, so it applies to every
 * selection (tag, filter) of that service.
 */
export async function readPromoted(context: HandlerContext): Promise<Map<string, string>> {
  const services = versionedServices(context);
  if (services.length === 0) return new Map();
  const read = await context.promotions.read(services);
  for (const { service, value } of read.invalid) {
    context.logger.warn("promoted version in Consul KV is not a version; ignored", { service, value, fix: `consul-haproxy-handler promote ${service} <version> (or --clear)` });
  }
  const bySelection = new Map<string, string>();
  for (const service of context.config.services) {
    const version = read.promoted.get(service.name);
    if (service.versioning && version !== undefined) bySelection.set(selectionKey(service), version);
  }
  return bySelection;
}

/** Each switch of a serving generation, logged once: the next reconcile sees it in HAProxy. */
export function logVersionSwitches(plan: Plan, logger: Logger, applied: boolean): void {
  for (const decision of plan.versions) {
    if (decision.switchReason === undefined || decision.serving === undefined) continue;
    const fields = { service: decision.serviceName, from: decision.previous ?? null, to: decision.serving, reason: decision.switchReason };
    if (applied) logger.info("serving generation switched", fields);
    else logger.info("serving generation would switch (dry run)", fields);
  }
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
  /** Backends whose mass removal the guard held back (their leaving nodes kept as they are). */
  held: HeldRemoval[];
  released: ReleasedRemoval[];
}

export interface ReconcileOptions {
  dryRun?: boolean;
  /** `sync --allow-mass-removal`: apply a removal the guard would hold. */
  allowMassRemoval?: boolean;
}

export function massRemovalPolicy(config: HandlerConfig): MassRemovalPolicy {
  return { maxRemovalFraction: config.policy.maxRemovalFraction, minNodes: config.policy.massRemovalMinNodes, holdSeconds: config.policy.massRemovalHoldSeconds };
}

export function logPlanProblems(plan: Plan, logger: Logger): void {
  for (const left of plan.leftOut) logger.error("node left out", { ...left });
}

export async function reconcileWith(context: HandlerContext, desired: DesiredState, options: ReconcileOptions = {}): Promise<ReconcileOutcome> {
  const started = process.hrtime.bigint();
  // One connection per reconcile: read the slots, then apply on the same one.
  const promoted = await readPromoted(context);
  const remembered = loadGuardMemory(context.config.lockFile);
  const { plan, report, guard } = await context.haproxy.session(async (session) => {
    const slots = await readSlotsIn(session, context.policy);
    const unguarded = planReconcile(desired.endpoints, slots, context.policy, { promoted });
    // Fail static against an answer that would empty a backend (see mass-removal.ts).
    const decision = guardMassRemoval(unguarded, slots, massRemovalPolicy(context.config), remembered, Date.now(), options.allowMassRemoval === true);
    const planned = decision.plan;
    const applied = !options.dryRun && planned.steps.length > 0 ? await applyPlan(session, planned.steps) : undefined;
    // After each apply, the slots file follows what HAProxy now runs (read back, not predicted).
    if (!options.dryRun && context.config.haproxy.slotsFile) {
      keepSlotsFile(context, context.config.haproxy.slotsFile, applied && applied.applied.length + applied.failures.length > 0 ? await readSlotsIn(session, context.policy) : slots);
    }
    return { plan: planned, report: applied, guard: decision };
  });
  // Written only when it changed: most reconciles hold nothing, before and after.
  if (!options.dryRun && JSON.stringify(guard.memory) !== JSON.stringify(remembered)) {
    try {
      saveGuardMemory(context.config.lockFile, guard.memory);
    } catch (error) {
      context.logger.error("cannot write the mass-removal guard's state beside the lock file; a held removal will not release by itself", { detail: (error as Error).message });
    }
  }
  for (const hold of guard.held) {
    context.logger.error("mass removal held: nodes kept as they are", { backend: hold.backend, servingBefore: hold.servingBefore, leaving: hold.leaving, joining: hold.joining, slots: hold.slots, detail: describeHold(hold) });
  }
  for (const release of guard.released) {
    context.logger.warn("mass removal applied", { backend: release.backend, leaving: release.leaving, why: release.why });
  }
  logPlanProblems(plan, context.logger);
  logVersionSwitches(plan, context.logger, !options.dryRun);
  // The command texts are only needed to show them (dry run); the applier builds its own.
  const commands = options.dryRun ? planCommands(plan.steps) : [];
  const outcome: ReconcileOutcome = { plan, commands, endpoints: desired.endpoints.length, rejected: desired.rejected, durationMs: 0, held: guard.held, released: guard.released };
  if (report) {
    outcome.report = report;
    const verbose = report.applied.length <= 20;
    if (verbose) {
      for (const step of report.applied) context.logger.info(step.reason, { slot: `${step.backend}/${step.server}`, serviceId: step.serviceId });
    }
    // A socket below level admin refuses every change: one line, not one per slot.
    const denied = report.failures.filter((failure) => isPermissionDenied(failure.reply));
    if (denied.length > 0) {
      context.logger.error("HAProxy answered 'Permission denied': the handler needs level admin on its socket; point haproxy.socket at a 'stats socket ... level admin' (check-config verifies it)", {
        socket: context.config.haproxy.socket,
        refusedSlots: denied.length,
      });
    }
    for (const failure of report.failures) {
      if (isPermissionDenied(failure.reply)) continue;
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
    held: guard.held.reduce((total, hold) => total + hold.leaving, 0),
    dryRun: options.dryRun === true,
    ms: Math.round(outcome.durationMs * 10) / 10,
  });
  return outcome;
}

/** HAProxy's reply to a command above the connection's level. */
export function isPermissionDenied(reply: string): boolean {
  return reply.trim() === "Permission denied";
}

/** Fresh reads of both sides, then plan and apply. Throws ConsulUntrusted (HAProxy untouched). */
export async function reconcile(context: HandlerContext, options: ReconcileOptions = {}): Promise<ReconcileOutcome> {
  const desired = await readDesired(context);
  return reconcileWith(context, desired, options);
}

/**
 * For the exit code: a reconcile succeeded when every step applied and no
 * node was left out for want of a slot or class, and no mass removal was
 * held back. (Nodes with invalid settings are the registration's problem:
 * logged, not a failure here.)
 */
export function reconcileSucceeded(outcome: ReconcileOutcome): boolean {
  return (outcome.report?.failures.length ?? 0) === 0 && outcome.plan.leftOut.length === 0 && outcome.held.length === 0;
}
