import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { keptByHolds, restoreKept, withRestores, type KeptSlot } from "../../../handler/reconcile/held-slots.js";
import type { PlannerPolicy, PlanStep } from "../../../handler/planner/model.js";
import { freeSlot } from "../slot-fixtures.js";

const policy: PlannerPolicy = { backends: [], warningAs: "ready", drainSeconds: 2, holdDownUntilChecked: true, maxWeight: 256 };
const kept: KeptSlot = { backend: "b", server: "srv2", address: "10.0.0.2", port: 80, weight: 5, maxconn: 7, since: 1000 };
const memory = { b: { signature: "srv2 10.0.0.2:80", since: 1000 } };

describe("held slots survive an HAProxy restart", () => {
  test("a kept slot HAProxy lost is planned as there, and put back first (held DOWN until checked)", () => {
    const restoration = restoreKept([freeSlot("b", 1), freeSlot("b", 2)], [kept], memory);
    assert.deepEqual([...restoration.lost.keys()], ["b/srv2"]);
    const slot = restoration.slots.all().find((each) => each.name === "srv2");
    assert.deepEqual([slot?.address, slot?.port, slot?.weight, slot?.maxconn, slot?.adminState], ["10.0.0.2", 80, 5, 7, "ready"]);
    const steps = withRestores([], restoration, policy);
    assert.equal(steps.length, 1);
    assert.deepEqual(steps[0]?.prepare, [
      { kind: "set-addr", address: "10.0.0.2", port: 80 },
      { kind: "set-weight", weight: 5 },
      { kind: "set-maxconn", maxconn: 7 },
    ]);
    assert.deepEqual(steps[0]?.activate, [{ kind: "set-state", state: "ready" }, { kind: "set-health", health: "down" }]);
  });

  test("nothing restored while HAProxy holds the slot, for a forgotten hold, or for another hold's slots", () => {
    assert.equal(restoreKept([freeSlot("b", 2, "srv", { address: "10.0.0.2", port: 80, adminState: "ready" })], [kept], memory).lost.size, 0);
    assert.equal(restoreKept([freeSlot("b", 2)], [kept], {}).lost.size, 0);
    assert.equal(restoreKept([freeSlot("b", 2)], [kept], { b: { signature: "x", since: 2000 } }).lost.size, 0);
  });

  test("a released hold: the plan's removal of the lost slot is dropped and nothing is put back", () => {
    const restoration = restoreKept([freeSlot("b", 2)], [kept], memory);
    const drain: PlanStep = { backend: "b", server: "srv2", reason: "drain: left Consul", prepare: [], activate: [{ kind: "set-state", state: "drain" }] };
    const other: PlanStep = { backend: "b", server: "srv1", reason: "fill", prepare: [], activate: [{ kind: "set-state", state: "ready" }] };
    assert.deepEqual(withRestores([drain, other], restoration, policy), [other]);
  });

  test("the slots a hold keeps are remembered with the hold's start", () => {
    const slots = [freeSlot("b", 1, "srv", { address: "10.0.0.1", port: 80, adminState: "ready", weight: 3 }), freeSlot("b", 2, "srv", { address: "10.0.0.2", port: 80, adminState: "ready" })];
    const held = [{ backend: "b", servingBefore: 2, leaving: 1, joining: 0, slots: ["srv1 10.0.0.1:80"], since: 42, releasesAt: 100 }];
    assert.deepEqual(keptByHolds(held, slots), [{ backend: "b", server: "srv1", address: "10.0.0.1", port: 80, weight: 3, maxconn: 0, since: 42 }]);
  });
});
