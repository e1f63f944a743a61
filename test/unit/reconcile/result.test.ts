import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EXIT_FAILED, EXIT_LEFT_OUT, EXIT_OK, exitCodeFor, reconcileResult } from "../../../handler/reconcile/result.js";
import type { ReconcileOutcome } from "../../../handler/reconcile/reconcile.js";
import type { ApplyReport } from "../../../handler/applier/apply.js";

function outcome(change: { leftOut?: number; refused?: number; held?: number; rejected?: number } = {}): ReconcileOutcome {
  const report = { applied: [], failures: Array.from({ length: change.refused ?? 0 }, () => ({ step: { backend: "b", server: "s1", reason: "fill", prepare: [], activate: [] }, command: "set server b/s1 state ready", reply: "No such server." })), commandsSent: 1 } as unknown as ApplyReport;
  return {
    plan: { steps: [], leftOut: Array.from({ length: change.leftOut ?? 0 }, (_, index) => ({ backend: "b", serviceId: `n${index}`, reason: "no free slot" })), draining: 0, usage: [], versions: [] },
    commands: [],
    report,
    endpoints: 1,
    rejected: Array.from({ length: change.rejected ?? 0 }, (_, index) => ({ service: "iri", serviceId: `bad${index}`, key: "maxconn", value: "lots", reason: "expected a whole number" })),
    durationMs: 1,
    held: Array.from({ length: change.held ?? 0 }, () => ({ backend: "b", servingBefore: 4, leaving: 4, joining: 0, slots: [], since: 0, releasesAt: 0 })),
    released: [],
    covered: { backends: ["b"], services: ["iri"] },
  } as ReconcileOutcome;
}

describe("reconcile result: one meaning for sync, watch and run", () => {
  test("ok: exit 0, also with nodes rejected for invalid settings (the registration's problem)", () => {
    assert.equal(reconcileResult(outcome()), "ok");
    assert.equal(reconcileResult(outcome({ rejected: 2 })), "ok");
    assert.equal(exitCodeFor("ok"), EXIT_OK);
  });

  test("nodes left out for want of a slot or class: its own result and exit code 3", () => {
    assert.equal(reconcileResult(outcome({ leftOut: 1 })), "left-out");
    assert.equal(exitCodeFor("left-out"), EXIT_LEFT_OUT);
    assert.equal(EXIT_LEFT_OUT, 3);
  });

  test("a refused command or a held mass removal fails (exit 1), whatever was left out", () => {
    assert.equal(reconcileResult(outcome({ refused: 1, leftOut: 1 })), "failed");
    assert.equal(reconcileResult(outcome({ held: 1, leftOut: 1 })), "failed");
    assert.equal(exitCodeFor("failed"), EXIT_FAILED);
  });
});
