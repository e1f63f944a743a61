// The planner's slot index (planner/slot-index.ts): blank slots apart from
// named ones, each lowest number first, and kept current in place by `update`
// as `run`'s cache changes its slots: after any sequence of changes it must be
// the index a fresh read would build, or a plan would fill the wrong slot.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isBlank, SlotIndex } from "../../../handler/planner/slot-index.js";
import { planReconcile } from "../../../handler/planner/plan.js";
import type { Endpoint, PlannerPolicy, Slot, SlotClass } from "../../../handler/planner/model.js";
import { emptySlots, freeSlot } from "../slot-fixtures.js";

const names = (slots: readonly Slot[]): string[] => slots.map((slot) => `${slot.backend}/${slot.name}`);

/** What the planner reads of one class, as names. */
function classView(index: SlotIndex, backend: string, prefix: string): { named: string[]; blank: string[]; highest: number; count: number } {
  const view = index.classSlots(backend, prefix);
  return { named: names(view.named), blank: names(view.blank), highest: view.highest, count: view.count };
}

describe("slot index", () => {
  test("blank slots (maint, no address) apart from named ones, each lowest number first, whatever order they come in", () => {
    const slots = [freeSlot("be", 3), freeSlot("be", 1, "srv", { address: "10.0.0.1", port: 80, adminState: "ready" }), freeSlot("be", 2), freeSlot("be", 10, "tls"), freeSlot("be", 4, "srv", { adminState: "drain" }), freeSlot("other", 1)];
    const index = new SlotIndex(slots);
    assert.deepEqual(classView(index, "be", "srv"), { named: ["be/srv1", "be/srv4"], blank: ["be/srv2", "be/srv3"], highest: 4, count: 4 });
    assert.deepEqual(classView(index, "be", "tls"), { named: [], blank: ["be/tls10"], highest: 10, count: 1 });
    assert.deepEqual(classView(index, "nope", "srv"), { named: [], blank: [], highest: 0, count: 0 });
    assert.deepEqual(names(index.named("be")), ["be/srv1", "be/srv4"]);
    assert.deepEqual(names(index.named()), ["be/srv1", "be/srv4"]);
    assert.equal(index.slot("be", "srv3"), slots[0]);
    assert.equal(index.slot("be", "srv9"), undefined);
    assert.equal(index.all().length, slots.length);
    assert.equal(SlotIndex.of(index), index, "an index is used as it is");
  });

  test("kept current by update: after any changes it equals the index of a fresh read", () => {
    const change = fc.record({
      slot: fc.nat(),
      address: fc.option(fc.constantFrom("10.0.0.1", "10.0.0.2"), { nil: undefined }),
      adminState: fc.constantFrom("ready" as const, "drain" as const, "maint" as const),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(change, { maxLength: 40 }), (count, changes) => {
        const slots = [...emptySlots("be", count), ...emptySlots("be", 3, "tls")];
        const index = new SlotIndex(slots);
        for (const each of changes) {
          const slot = slots[each.slot % slots.length] as Slot;
          const wasBlank = isBlank(slot);
          if (each.address === undefined) delete slot.address;
          else slot.address = each.address;
          slot.adminState = each.adminState;
          index.update(slot, wasBlank);
        }
        const fresh = new SlotIndex(slots);
        for (const prefix of ["srv", "tls"]) assert.deepEqual(classView(index, "be", prefix), classView(fresh, "be", prefix));
      }),
      { numRuns: 150 },
    );
  });

  test("a plan over an index kept current is the plan over the same slots read fresh", () => {
    const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };
    const policy: PlannerPolicy = { backends: [{ backend: "be", role: "default", serviceName: "web", classes: [httpClass], defaults: { weight: 1, maxconn: 0 } }], warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: true, maxWeight: 256 };
    const endpoint = (port: number): Endpoint => ({ serviceName: "web", serviceId: `web-${port}`, node: "n", address: "10.0.0.1", port, health: "passing", settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" } });
    fc.assert(
      fc.property(fc.array(fc.record({ slot: fc.nat({ max: 7 }), port: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), maint: fc.boolean() }), { maxLength: 20 }), fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 5 }), (changes, wanted) => {
        const slots = emptySlots("be", 8);
        const index = new SlotIndex(slots);
        for (const each of changes) {
          const slot = slots[each.slot] as Slot;
          const wasBlank = isBlank(slot);
          if (each.port === undefined) {
            delete slot.address;
            delete slot.port;
          } else Object.assign(slot, { address: "10.0.0.1", port: each.port });
          slot.adminState = each.maint ? "maint" : "ready";
          index.update(slot, wasBlank);
        }
        const endpoints = wanted.map(endpoint);
        assert.deepEqual(planReconcile(endpoints, index, policy), planReconcile(endpoints, slots.map((slot) => ({ ...slot })), policy));
      }),
      { numRuns: 150 },
    );
  });
});
