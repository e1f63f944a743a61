// The exact shape of the steps that drain and free a slot: written for
// mutants that survived (docs/mutation-testing.md).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planReconcile } from "../../../handler/planner/plan.js";
import type { BackendPolicy, PlannerPolicy, Slot, SlotClass } from "../../../handler/planner/model.js";
import { freeSlot } from "../slot-fixtures.js";

describe("plan: the drain and free steps, exactly", () => {
  const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };
  const backend: BackendPolicy = { backend: "be", role: "default", serviceName: "iri", classes: [httpClass], defaults: { weight: 1, maxconn: 0 } };
  const policy: PlannerPolicy = { backends: [backend], warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: true, maxWeight: 256 };
  const slot = (number: number, changes: Partial<Slot>): Slot => freeSlot("be", number, "srv", changes);

  test("a node gone: drain with no prepare; drained and idle: maint and the address forgotten; a free slot still naming an address: forgotten", () => {
    const plan = planReconcile(
      [],
      [
        slot(1, { adminState: "ready", status: "UP", address: "10.0.0.1", port: 80, sessions: 3, secondsSinceChange: 1 }),
        slot(2, { adminState: "drain", status: "DRAIN", address: "10.0.0.2", port: 81 }),
        slot(3, { address: "10.0.0.3", port: 82 }),
        slot(4, {}),
      ],
      policy,
    );
    assert.deepEqual(plan.steps, [
      { backend: "be", server: "srv1", prepare: [], reason: "drain: node left Consul", activate: [{ kind: "set-state", state: "drain" }] },
      { backend: "be", server: "srv2", prepare: [], reason: "free: drained", activate: [{ kind: "set-state", state: "maint" }, { kind: "set-addr", address: "0.0.0.0", port: 81 }] },
      { backend: "be", server: "srv3", reason: "free: forget the address of a node no longer in Consul", prepare: [], activate: [{ kind: "set-addr", address: "0.0.0.0", port: 82 }] },
    ]);
    assert.deepEqual(plan.usage, [{ backend: "be", total: 4, used: 1, free: 3 }]);
    assert.equal(plan.draining, 1);
  });
});
