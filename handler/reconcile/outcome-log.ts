// What a reconcile tells the operator in the log: the holds and releases of
// the mass-removal guard, nodes left out, version switches, every applied
// step (when few), refused commands and one summary line.
import type { Logger } from "../log.js";
import type { Plan } from "../planner/model.js";
import { describeHold, type HeldRemoval, type ReleasedRemoval } from "../planner/mass-removal.js";
import type { ApplyReport } from "../applier/apply.js";
import type { HandlerContext } from "./context.js";

/** The parts of a reconcile's outcome that are logged. */
export interface LoggedOutcome {
  plan: Plan;
  report?: ApplyReport;
  endpoints: number;
  held: readonly HeldRemoval[];
  released: readonly ReleasedRemoval[];
  durationMs: number;
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

export function logPlanProblems(plan: Plan, logger: Logger): void {
  for (const left of plan.leftOut) logger.error("node left out", { ...left });
}

/** HAProxy's reply to a command above the connection's level. */
export function isPermissionDenied(reply: string): boolean {
  return reply.trim() === "Permission denied";
}

function logApplyReport(context: HandlerContext, report: ApplyReport): void {
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

export function logOutcome(context: HandlerContext, outcome: LoggedOutcome, how: { dryRun: boolean; haproxyRead: string }): void {
  const { plan } = outcome;
  for (const hold of outcome.held) {
    context.logger.error("mass removal held: nodes kept as they are", { backend: hold.backend, servingBefore: hold.servingBefore, leaving: hold.leaving, joining: hold.joining, slots: hold.slots, detail: describeHold(hold) });
  }
  for (const release of outcome.released) {
    context.logger.warn("mass removal applied", { backend: release.backend, leaving: release.leaving, why: release.why });
  }
  logPlanProblems(plan, context.logger);
  logVersionSwitches(plan, context.logger, !how.dryRun);
  if (outcome.report) logApplyReport(context, outcome.report);
  context.logger.info("reconciled", {
    endpoints: outcome.endpoints,
    steps: plan.steps.length,
    applied: outcome.report?.applied.length ?? 0,
    failed: outcome.report?.failures.length ?? 0,
    leftOut: plan.leftOut.length,
    draining: plan.draining,
    held: outcome.held.reduce((total, hold) => total + hold.leaving, 0),
    dryRun: how.dryRun,
    haproxyRead: how.haproxyRead,
    ms: Math.round(outcome.durationMs * 10) / 10,
  });
}
