// The mass-removal guard as a pure function, on plans the real planner makes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planReconcile } from "../../../handler/planner/plan.js";
import { describeHold, guardMassRemoval, isMassRemoval, mergeGuardMemory, type GuardMemory, type MassRemovalPolicy } from "../../../handler/planner/mass-removal.js";
import type { Endpoint, Health, Plan, PlannerPolicy, PlanStep, Slot, SlotClass, SlotOperation } from "../../../handler/planner/model.js";
import { freeSlot } from "../slot-fixtures.js";

const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };
const planner: PlannerPolicy = {
  backends: [
    { backend: "be", role: "default", serviceName: "iri", classes: [httpClass], defaults: { weight: 1, maxconn: 0 } },
    { backend: "other", role: "default", serviceName: "api", classes: [httpClass], defaults: { weight: 1, maxconn: 0 } },
  ],
  warningAs: "ready",
  drainSeconds: 30,
  holdDownUntilChecked: true,
  maxWeight: 256,
};
const guard: MassRemovalPolicy = { maxRemovalFraction: 0.5, minNodes: 3, holdSeconds: 300 };

function endpoint(index: number, health: Health = "passing", serviceName = "iri"): Endpoint {
  return { serviceName, serviceId: `n${index}`, node: `node${index}`, address: `10.0.0.${index}`, port: 80, health, settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" } };
}

/** `serving` slots hold nodes 1..serving (ready, UP); the rest are free. */
function slots(serving: number, total = 20, backend = "be"): Slot[] {
  return Array.from({ length: total }, (_, index) => {
    const number = index + 1;
    const base = freeSlot(backend, number);
    return number <= serving ? { ...base, address: `10.0.0.${number}`, port: 80, adminState: "ready", status: "UP" } : base;
  });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, index) => from + index);
const T0 = 1_000_000;

function decide(serving: number, desired: Endpoint[], memory: GuardMemory = {}, now = T0, allow = false) {
  const current = slots(serving);
  const plan = planReconcile(desired, current, planner);
  return { plan, decision: guardMassRemoval(plan, current, guard, memory, now, allow) };
}

describe("mass-removal guard", () => {
  test("the threshold: more than the fraction and at least the minimum", () => {
    assert.equal(isMassRemoval(10, 5, guard), false, "exactly half is not more than half");
    assert.equal(isMassRemoval(10, 6, guard), true);
    assert.equal(isMassRemoval(4, 2, guard), false, "two of four: below the minimum of 3");
    assert.equal(isMassRemoval(4, 3, guard), true);
    assert.equal(isMassRemoval(2, 2, guard), false, "a tiny backend can always lose its nodes");
  });

  test("a waiting generation (ready, weight 0) is not serving; given weight as the old ones leave, it counts as joining", () => {
    // A rollout: three old nodes serve, the new version waits with weight 0;
    // the three old ones leave in one answer and the new one takes over.
    const current = slots(4);
    current[3] = { ...current[3]!, weight: 0 };
    const plan = planReconcile([endpoint(4)], current, planner);
    const decision = guardMassRemoval(plan, current, guard, {}, T0, false);
    assert.deepEqual(decision.held, [], "net loss 2 of 3 serving: below the minimum of 3, not held");
    assert.equal(decision.plan.steps.length, 4, "three drains and the weight of the new one");
  });

  test("an empty answer for ten serving nodes is held: no step touches them, the hold is remembered", () => {
    const { plan, decision } = decide(10, []);
    assert.equal(plan.steps.length, 10, "unguarded, the planner drains all ten");
    assert.deepEqual(decision.plan.steps, []);
    assert.equal(decision.plan.draining, 0);
    assert.equal(decision.held.length, 1);
    const hold = decision.held[0]!;
    assert.equal(hold.backend, "be");
    assert.equal(hold.servingBefore, 10);
    assert.equal(hold.leaving, 10);
    assert.equal(hold.slots.length, 10);
    assert.equal(hold.releasesAt, T0 + 300_000);
    assert.deepEqual(Object.keys(decision.memory), ["be"]);
  });

  test("critical and maintenance count as leaving; the rest of the plan still applies", () => {
    const desired = [...range(1, 5).map((index) => endpoint(index, "critical")), endpoint(6, "maintenance"), endpoint(7), endpoint(8), endpoint(11)];
    const { decision } = decide(8, desired);
    assert.equal(decision.held.length, 1, "6 of 8 leaving (net 5 with one joining) is held");
    assert.equal(decision.held[0]!.leaving, 6);
    assert.equal(decision.held[0]!.joining, 1);
    assert.deepEqual(
      decision.plan.steps.map((step) => `${step.server} ${step.reason}`),
      ["srv9 fill"],
      "the new node is still filled; the leaving ones are left as they are",
    );
  });

  test("normal churn is never held: one or two at a time, or replaced as they leave", () => {
    assert.deepEqual(decide(10, range(1, 8).map((index) => endpoint(index))).decision.held, [], "two of ten leave");
    assert.deepEqual(decide(4, range(1, 2).map((index) => endpoint(index))).decision.held, [], "two of four leave");
    const replaced = decide(10, range(11, 20).map((index) => endpoint(index)));
    assert.deepEqual(replaced.decision.held, [], "all ten replaced by ten new ones in one answer");
    assert.equal(replaced.decision.plan.steps.length, replaced.plan.steps.length);
    const mostlyReplaced = decide(10, [...range(1, 4), ...range(11, 14)].map((index) => endpoint(index)));
    assert.deepEqual(mostlyReplaced.decision.held, [], "six leave, four join: net two");
  });

  test("released when the same removal has stood for the hold time", () => {
    const first = decide(10, []);
    const early = decide(10, [], first.decision.memory, T0 + 299_000);
    assert.equal(early.decision.held.length, 1, "still held before the hold time");
    assert.equal(early.decision.held[0]!.since, T0, "the first-seen time is kept");
    const late = decide(10, [], early.decision.memory, T0 + 300_000);
    assert.deepEqual(late.decision.held, []);
    assert.deepEqual(late.decision.released, [{ backend: "be", leaving: 10, why: "hold time over" }]);
    assert.equal(late.decision.plan.steps.length, 10, "the whole plan applies");
    assert.deepEqual(late.decision.memory, {});
  });

  test("a different removal starts its own hold time; the operator can allow it at once", () => {
    const first = decide(10, []);
    const other = decide(10, [endpoint(1)], first.decision.memory, T0 + 299_000);
    assert.equal(other.decision.held[0]?.since, T0 + 299_000, "another set of leaving nodes is another removal");
    const allowed = decide(10, [], first.decision.memory, T0 + 1_000, true);
    assert.deepEqual(allowed.decision.held, []);
    assert.equal(allowed.decision.released[0]?.why, "allowed by the operator");
    assert.equal(allowed.decision.plan.steps.length, 10);
  });

  test("only the backend that would empty is held", () => {
    const current = [...slots(5), ...slots(5, 10, "other")];
    const desired = range(1, 5).map((index) => endpoint(index, "passing", "api"));
    const plan = planReconcile(desired, current, planner);
    // "be" loses its five nodes (held); "other" keeps its own five.
    const decision = guardMassRemoval(plan, current, guard, {}, T0, false);
    assert.deepEqual(decision.held.map((hold) => hold.backend), ["be"]);
  });
});

// For the mutants that survived the first mutation run with this file in it
// (docs/mutation-testing.md): what counts as serving, the exact slots and
// signature of a hold, the minimum and the fraction on the guard itself,
// steps of another backend, the draining count and the hold's text.
describe("mass-removal guard: edges", () => {
  test("at exactly the minimum and over the fraction: held; at the minimum but not over the fraction: not", () => {
    assert.equal(decide(4, [endpoint(4)]).decision.held.length, 1, "3 of 4 leave");
    assert.equal(decide(10, range(4, 10).map((index) => endpoint(index))).decision.held.length, 0, "3 of 10 leave");
  });

  test("only ready slots with an address and a weight are serving: drained and weight-0 slots are not counted", () => {
    const current = slots(8);
    current[4] = { ...current[4]!, adminState: "drain" };
    current[5] = { ...current[5]!, weight: 0 };
    const plan = planReconcile([endpoint(7), endpoint(8)], current, planner);
    const decision = guardMassRemoval(plan, current, guard, {}, T0, false);
    assert.equal(decision.held.length, 1);
    assert.equal(decision.held[0]!.servingBefore, 6, "8 filled, one draining and one at weight 0");
  });

  test("a hold names its slots as 'server address:port', sorted, and remembers them as its signature", () => {
    const { decision } = decide(4, [endpoint(4)]);
    assert.deepEqual(decision.held[0]!.slots, ["srv1 10.0.0.1:80", "srv2 10.0.0.2:80", "srv3 10.0.0.3:80"]);
    assert.deepEqual(decision.memory, { be: { signature: "srv1 10.0.0.1:80,srv2 10.0.0.2:80,srv3 10.0.0.3:80", since: T0 } });
  });

  test("steps in another backend neither add to nor make up for this backend's loss", () => {
    const current = [...slots(4), ...slots(0, 10, "other")];
    const desired = [endpoint(4), ...range(21, 24).map((index) => endpoint(index, "passing", "api"))];
    const plan = planReconcile(desired, current, planner);
    const decision = guardMassRemoval(plan, current, guard, {}, T0, false);
    assert.deepEqual(decision.held.map((hold) => [hold.backend, hold.leaving, hold.joining]), [["be", 3, 0]]);
    assert.equal(decision.plan.steps.filter((step) => step.backend === "other").length, 4, "the other backend's fills still apply");
  });

  test("the plan's draining count loses only the drains it held, and those only", () => {
    const current = [...slots(4), ...slots(2, 10, "other")];
    // be: three go critical (maint, held); other: one of two leaves (drain, not held).
    const desired = [...range(1, 3).map((index) => endpoint(index, "critical")), endpoint(4), { ...endpoint(1, "passing", "api"), address: "10.0.0.1" }];
    const plan = planReconcile(desired, current, planner);
    const decision = guardMassRemoval(plan, current, guard, {}, T0, false);
    assert.equal(decision.held.length, 1);
    assert.equal(decision.plan.draining, plan.draining, "maint steps held are not drains");
    assert.ok(decision.plan.draining >= 1, "the other backend's drain still counts");
  });

  test("the hold's text: the net loss, the nodes serving before, the seconds left (rounded up, never below 0)", () => {
    const hold = { backend: "be", servingBefore: 10, leaving: 9, joining: 2, slots: [], since: 0, releasesAt: Date.now() + 10_500 };
    assert.equal(
      describeHold(hold),
      "mass removal held in be: Consul's answer would take 7 of 10 serving nodes out at once; they stay as they are until the same answer has stood for the hold time (11 s left) or 'sync --allow-mass-removal' is run",
    );
    assert.match(describeHold({ ...hold, releasesAt: Date.now() - 5_000 }), /\(0 s left\)/);
  });
});

/** A plan of these steps alone, as the planner would hand it over (steps written out, to reach orders and shapes the planner's own plans never take). */
function planOf(steps: PlanStep[], draining = 0): Plan {
  return { steps, leftOut: [], draining, usage: [], versions: [] };
}
function step(server: string, activate: SlotOperation[], prepare: SlotOperation[] = []): PlanStep {
  return { backend: "be", server, reason: "test", prepare, activate };
}
const toMaint = (server: string): PlanStep => step(server, [{ kind: "set-state", state: "maint" }]);

describe("mass-removal guard: steps written out", () => {
  test("a step counts as leaving by its set-state, wherever it stands among the activate operations", () => {
    const steps = ["srv1", "srv2", "srv3"].map((server) => step(server, [{ kind: "set-health", health: "down" }, { kind: "set-state", state: "maint" }]));
    const decision = guardMassRemoval(planOf(steps), slots(4), guard, {}, T0, false);
    assert.deepEqual(decision.held.map((hold) => hold.leaving), [3]);
    assert.deepEqual(decision.plan.steps, [], "the three leaving steps are dropped");
  });

  test("only a serving slot can leave: slots already out of rotation (weight 0) put into maint are no loss", () => {
    const current = slots(4).map((slot, index) => (index < 3 ? { ...slot, weight: 0 } : slot));
    const decision = guardMassRemoval(planOf(["srv1", "srv2", "srv3"].map(toMaint)), current, guard, {}, T0, false);
    assert.deepEqual(decision.held, []);
    assert.equal(decision.plan.steps.length, 3, "every step applies");
  });

  test("a ready slot with a weight but no address is not serving", () => {
    const current = slots(8);
    const withoutAddress: Slot = { ...current[7]! };
    delete withoutAddress.address;
    delete withoutAddress.port;
    current[7] = withoutAddress;
    const decision = guardMassRemoval(planOf(["srv1", "srv2", "srv3", "srv4"].map(toMaint)), current, guard, {}, T0, false);
    assert.deepEqual(decision.held.map((hold) => hold.servingBefore), [7], "4 of 7 serving leave: held");
  });

  test("a serving slot whose weight changes neither leaves nor joins", () => {
    const reweigh = (server: string): PlanStep => step(server, [], [{ kind: "set-weight", weight: 2 }]);
    // Three weight changes alone are no removal.
    assert.deepEqual(guardMassRemoval(planOf(["srv1", "srv2", "srv3"].map(reweigh)), slots(4), guard, {}, T0, false).held, []);
    // Three of five leave while the other two change weight: still a loss of 3 (more than half of 5).
    const steps = [...["srv1", "srv2", "srv3"].map(toMaint), ...["srv4", "srv5"].map(reweigh)];
    const decision = guardMassRemoval(planOf(steps), slots(5), guard, {}, T0, false);
    assert.deepEqual(decision.held.map((hold) => [hold.leaving, hold.joining]), [[3, 0]]);
  });

  test("a fill joins by the weight it sets: into a slot at weight 0, with weight 1, it makes up for a leaving node", () => {
    const current = slots(4).map((slot, index) => (index >= 4 ? { ...slot, weight: 0 } : slot));
    const fill = (server: string, weight: number): PlanStep =>
      step(server, [{ kind: "set-state", state: "ready" }], [{ kind: "set-addr", address: `10.0.1.${server.slice(3)}`, port: 80 }, { kind: "set-weight", weight }]);
    const replaced = [...["srv1", "srv2", "srv3"].map(toMaint), fill("srv5", 1), fill("srv6", 1), fill("srv7", 1)];
    assert.deepEqual(guardMassRemoval(planOf(replaced), current, guard, {}, T0, false).held, [], "three leave, three join");
    // Filled at weight 0 (a waiting generation) they do not serve, so they make up for nothing.
    const waiting = [...["srv1", "srv2", "srv3"].map(toMaint), fill("srv5", 0), fill("srv6", 0), fill("srv7", 0)];
    assert.deepEqual(guardMassRemoval(planOf(waiting), current, guard, {}, T0, false).held.map((hold) => hold.joining), [0]);
  });

  test("the hold's slots are sorted whatever the plan's order; an IPv6 address is bracketed", () => {
    const current = slots(4);
    current[1] = { ...current[1]!, address: "fd00::2" };
    const decision = guardMassRemoval(planOf(["srv3", "srv2", "srv1"].map(toMaint)), current, guard, {}, T0, false);
    assert.deepEqual(decision.held[0]!.slots, ["srv1 10.0.0.1:80", "srv2 [fd00::2]:80", "srv3 10.0.0.3:80"]);
  });
});

describe("mass-removal guard: memory across partial reconciles", () => {
  const hold = (signature: string): GuardMemory[string] => ({ signature, since: T0 });
  test("backends the reconcile covered take its memory (a released hold is forgotten); the others keep theirs", () => {
    const before: GuardMemory = { a: hold("a1"), b: hold("b1"), c: hold("c1") };
    const after: GuardMemory = { b: hold("b2") };
    assert.deepEqual(mergeGuardMemory(before, after, new Set(["a", "b"])), { b: hold("b2"), c: hold("c1") });
  });
  test("nothing covered: the memory stays as it was, plus what the reconcile remembered", () => {
    assert.deepEqual(mergeGuardMemory({ a: hold("a1") }, { d: hold("d1") }, new Set()), { a: hold("a1"), d: hold("d1") });
  });
});
