// One reconcile: read desired state (Consul) and actual state (HAProxy), plan
// with the pure planner, apply in batches, and log what happened. Every
// trigger (sync, watch, run) ends up here, so re-running is always safe.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { RuntimeApiClient } from "../haproxy-runtime-api/index.js";
import { ConsulSource, selectionKey } from "../source/consul-source.js";
import type { Rejection } from "../source/node-settings.js";
import { endpointsFromSnapshots, type DesiredState, type RejectedNode } from "../source/desired.js";
import { PromotionStore } from "../source/promotion.js";
import { planReconcile } from "../planner/plan.js";
import { readSlotsIn } from "../haproxy-state/reader.js";
import { SlotCache } from "../haproxy-state/cache.js";
import { readChangeStamp, writeChangeStamp } from "../haproxy-state/change-stamp.js";
import type { Plan, PlannerPolicy, Slot } from "../planner/model.js";
import { applyPlan, planCommands, type ApplyReport } from "../applier/apply.js";
import { policyForServices, policyFromConfig } from "./policy.js";
import { describeHold, guardMassRemoval, type GuardMemory, type HeldRemoval, type MassRemovalPolicy, type ReleasedRemoval } from "./mass-removal.js";
import { loadGuardMemory, saveGuardMemory } from "./mass-removal-store.js";
import { keepSlotsFile } from "./slots-file.js";
import { keptByHolds, loadKeptSlots, restoreKept, saveKeptSlots, withRestores } from "./held-slots.js";
import { runAgainIn } from "./run-again.js";

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

export async function readDesired(context: HandlerContext): Promise<DesiredState> {
  const snapshots = await context.consul.readServices(context.config.services);
  return endpointsFromSnapshots(snapshots, context.logger);
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
  /** What this reconcile planned: its backends, and the services (selection keys) they serve. */
  covered: { backends: string[]; services: string[] };
  /** When the next reconcile is due whatever Consul does (draining slots, a retry, a hold); undefined: none. */
  runAgainInMs?: number;
}

export interface ReconcileOptions {
  dryRun?: boolean;
  /** `sync --allow-mass-removal`: apply a removal the guard would hold. */
  allowMassRemoval?: boolean;
  /** Plan and apply only the backends of these services (selection keys); undefined: every backend. */
  services?: ReadonlySet<string>;
  /** `run`'s cached view of HAProxy; undefined: HAProxy is read in full (sync, watch, promote). */
  state?: SlotCache;
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
  const kept = loadKeptSlots(context.config.lockFile);
  const policy = options.services === undefined ? context.policy : policyForServices(context.policy, options.services);
  const backends = new Set(policy.backends.map((backend) => backend.backend));
  // A one-shot process reads HAProxy in full; `run` keeps its cache across reconciles.
  const state = options.state ?? new SlotCache(context.policy);
  if (options.state) state.noticeStamp(readChangeStamp(context.config.lockFile));
  // `run` keeps its connection open through a burst of changes.
  const openSession = options.state ? context.haproxy.keptSession.bind(context.haproxy) : context.haproxy.session.bind(context.haproxy);
  const { plan, report, guard, read, keptNow } = await openSession(async (session) => {
    const actual = await state.slotsFor(session, backends);
    const read = actual.read;
    // Held nodes an HAProxy restart lost are planned as there, and put back (held-slots.ts).
    const restoration = restoreKept(actual.slots, kept, remembered);
    const slots = restoration.slots;
    const unguarded = planReconcile(desired.endpoints, slots, policy, { promoted });
    // Fail static against an answer that would empty a backend (see mass-removal.ts).
    const decision = guardMassRemoval(unguarded, slots, massRemovalPolicy(context.config), remembered, Date.now(), options.allowMassRemoval === true);
    const planned = { ...decision.plan, steps: withRestores(decision.plan.steps, restoration, context.policy) };
    const applied = !options.dryRun && planned.steps.length > 0 ? await applyPlan(session, planned.steps) : undefined;
    if (applied) state.recordApplied(applied);
    if (applied && applied.commandsSent > 0) noteChange(context, options.state);
    // The slots file follows what HAProxy now runs: the cache kept current by
    // the replies, or read again after a refused command.
    if (!options.dryRun && context.config.haproxy.slotsFile && (read === "full" || (applied?.commandsSent ?? 0) > 0)) {
      if (!state.current) await state.slotsFor(session, backends);
      keepSlotsFile(context, context.config.haproxy.slotsFile, state.slots());
    }
    const keptNow = [...kept.filter((each) => !backends.has(each.backend)), ...keptByHolds(decision.held, slots)];
    return { plan: planned, report: applied, guard: { ...decision, memory: options.services === undefined ? decision.memory : mergeGuardMemory(remembered, decision.memory, backends) }, read, keptNow };
  });
  if (!options.dryRun && JSON.stringify(keptNow) !== JSON.stringify(kept)) {
    try {
      saveKeptSlots(context.config.lockFile, keptNow);
    } catch (error) {
      context.logger.error("cannot write the held slots beside the lock file; an HAProxy restart now would lose the held nodes", { detail: (error as Error).message });
    }
  }
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
  const covered = { backends: [...backends], services: [...new Set(policy.backends.map((backend) => backend.serviceName))] };
  const outcome: ReconcileOutcome = { plan, commands, endpoints: desired.endpoints.length, rejected: desired.rejected, durationMs: 0, held: guard.held, released: guard.released, covered };
  const again = runAgainIn({ draining: plan.draining, refusedCommands: report?.failures.length ?? 0, holdsReleaseAt: guard.held.map((hold) => hold.releasesAt) }, policy.drainSeconds, Date.now());
  if (again !== undefined) outcome.runAgainInMs = again;
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
    haproxyRead: read,
    ms: Math.round(outcome.durationMs * 10) / 10,
  });
  return outcome;
}

/** The guard's memory after a reconcile of some backends: the others' holds are kept as they were. */
export function mergeGuardMemory(before: GuardMemory, after: GuardMemory, covered: ReadonlySet<string>): GuardMemory {
  const merged: GuardMemory = {};
  for (const [backend, hold] of Object.entries(before)) if (!covered.has(backend)) merged[backend] = hold;
  return { ...merged, ...after };
}

/** Tells `run` (all processes share the stamp) that HAProxy was changed; `run`'s own cache already knows. */
function noteChange(context: HandlerContext, cache: SlotCache | undefined): void {
  try {
    const stamp = writeChangeStamp(context.config.lockFile);
    cache?.ownStamp(stamp);
  } catch (error) {
    context.logger.warn("cannot write the change stamp beside the lock file; a running 'run' sees this change at its next resync", { detail: (error as Error).message });
  }
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
