// What one reconcile came to, in the same words for every command: `sync`
// and `watch` exit with its code, `run` counts it in reconciles_total.
//
// - ok: HAProxy matches Consul.
// - left-out: everything that could be applied was, but some nodes have no
//   place in HAProxy (no free slot, no slot class for their settings, a
//   second registration of one address:port). HAProxy serves what it can;
//   the operator has to add slots or a class. A distinct outcome, not a
//   failure: the next reconcile would do the same.
// - failed: HAProxy refused a command, or the mass-removal guard held a
//   removal back (HAProxy is not as Consul says, and the handler chose so).
// Nodes rejected for invalid settings are the registration's problem: logged
// and counted (nodes_rejected), they do not change the outcome.
import type { ReconcileOutcome } from "./reconcile.js";

export type ReconcileResult = "ok" | "left-out" | "failed";

export const EXIT_OK = 0;
/** The reconcile failed, or Consul's answer was not trusted (HAProxy left as it was). */
export const EXIT_FAILED = 1;
/** A usage or configuration error. */
export const EXIT_USAGE = 2;
/** Applied, but some nodes were left out for want of a slot or a slot class. */
export const EXIT_LEFT_OUT = 3;

export function reconcileResult(outcome: ReconcileOutcome): ReconcileResult {
  if ((outcome.report?.failures.length ?? 0) > 0 || outcome.held.length > 0) return "failed";
  if (outcome.plan.leftOut.length > 0) return "left-out";
  return "ok";
}

export function exitCodeFor(result: ReconcileResult): number {
  switch (result) {
    case "ok":
      return EXIT_OK;
    case "left-out":
      return EXIT_LEFT_OUT;
    case "failed":
      return EXIT_FAILED;
  }
}
