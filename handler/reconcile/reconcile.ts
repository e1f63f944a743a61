// One reconcile: read desired state (Consul) and actual state (HAProxy), plan
// with the pure planner, apply in batches, and log what happened. Every
// trigger (sync, watch, run) ends up here, so re-running is always safe.
import type { DesiredState, RejectedNode } from "../source/desired.js";
import { planReconcile } from "../planner/plan.js";
import { SlotCache } from "../haproxy-state/cache.js";
import { readChangeStamp, writeChangeStamp } from "../haproxy-state/change-stamp.js";
import type { Plan } from "../planner/model.js";
import { guardMassRemoval, mergeGuardMemory, type HeldRemoval, type ReleasedRemoval } from "../planner/mass-removal.js";
import { applyPlan, planCommands, type ApplyReport } from "../applier/apply.js";
import type { HandlerContext } from "./context.js";
import { massRemovalPolicy, policyForServices } from "./policy.js";
import { loadGuardMemory, saveGuardMemory } from "./mass-removal-store.js";
import { keepSlotsFile, keptSlotsFiles } from "./slots-file.js";
import { keptByHolds, loadKeptSlots, restoreKept, saveKeptSlots, withRestores } from "./held-slots.js";
import { runAgainIn } from "./run-again.js";
import { readDesired, readPromoted } from "./reads.js";
import { logOutcome } from "./outcome-log.js";

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
    // Held nodes an HAProxy restart lost are planned as there, and put back (held-slots.ts): those of
    // this reconcile's backends only (the index holds every backend; the others wait for their own plan).
    const restoration = restoreKept(actual.slots, kept.filter((each) => backends.has(each.backend)), remembered);
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
    const slotsFiles = keptSlotsFiles(context);
    if (!options.dryRun && slotsFiles.length > 0 && (read === "full" || (applied?.commandsSent ?? 0) > 0)) {
      if (!state.current) await state.slotsFor(session, backends);
      for (const slotsFile of slotsFiles) keepSlotsFile(context, slotsFile, state.slots());
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
  // The command texts are only needed to show them (dry run); the applier builds its own.
  const commands = options.dryRun ? planCommands(plan.steps) : [];
  const covered = { backends: [...backends], services: [...new Set(policy.backends.map((backend) => backend.serviceName))] };
  const outcome: ReconcileOutcome = { plan, commands, endpoints: desired.endpoints.length, rejected: desired.rejected, durationMs: 0, held: guard.held, released: guard.released, covered };
  const again = runAgainIn({ draining: plan.draining, refusedCommands: report?.failures.length ?? 0, holdsReleaseAt: guard.held.map((hold) => hold.releasesAt) }, policy.drainSeconds, Date.now());
  if (again !== undefined) outcome.runAgainInMs = again;
  if (report) outcome.report = report;
  outcome.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  logOutcome(context, outcome, { dryRun: options.dryRun === true, haproxyRead: read });
  return outcome;
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

/** Fresh reads of both sides, then plan and apply. Throws ConsulUntrusted (HAProxy untouched). */
export async function reconcile(context: HandlerContext, options: ReconcileOptions = {}): Promise<ReconcileOutcome> {
  const desired = await readDesired(context);
  return reconcileWith(context, desired, options);
}
