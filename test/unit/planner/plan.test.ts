import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classFor, planReconcile } from "../../../handler/planner/plan.js";
import type { BackendPolicy, Endpoint, Health, NodeSettings, PlannerPolicy, PlanStep, Slot, SlotClass } from "../../../handler/planner/model.js";
import { emptySlots } from "../slot-fixtures.js";

const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };
const tlsClass: SlotClass = { prefix: "tls", scheme: "https", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };

function backend(name: string, role: "default" | "pow", classes: SlotClass[] = [httpClass], maxconn = 0): BackendPolicy {
  return { backend: name, role, serviceName: "iri", classes, defaults: { weight: 1, maxconn } };
}

function policy(overrides: Partial<PlannerPolicy> = {}): PlannerPolicy {
  return { backends: [backend("be", "default"), backend("pow", "pow", [httpClass], 2)], warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: true, maxWeight: 256, ...overrides };
}

function endpoint(id: string, address: string, health: Health = "passing", settings: Partial<NodeSettings> = {}): Endpoint {
  return { serviceName: "iri", serviceId: id, node: "n1", address, port: 14265, health, settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default", ...settings } };
}


function occupy(slot: Slot, address: string, changes: Partial<Slot> = {}): Slot {
  return { ...slot, address, port: 14265, adminState: "ready", status: "UP", ...changes };
}

function stepFor(steps: PlanStep[], server: string, backendName = "be"): PlanStep {
  const step = steps.find((candidate) => candidate.server === server && candidate.backend === backendName);
  assert.ok(step, `expected a step for ${backendName}/${server}; got ${JSON.stringify(steps.map((s) => `${s.backend}/${s.server}`))}`);
  return step;
}

describe("planner", () => {
  test("a new passing node takes the lowest free slot, held down until HAProxy's check passes", () => {
    const slots = emptySlots("be", 3);
    slots[0] = occupy(slots[0]!, "10.0.0.9");
    const plan = planReconcile([endpoint("a", "10.0.0.9"), endpoint("b", "10.0.0.2")], slots, policy());
    const step = stepFor(plan.steps, "srv2");
    assert.equal(step.serviceId, "b");
    // The empty slot already has the default weight 1 and no maxconn: only the address is sent.
    assert.deepEqual(step.prepare, [{ kind: "set-addr", address: "10.0.0.2", port: 14265 }]);
    assert.deepEqual(step.activate, [
      { kind: "set-state", state: "ready" },
      { kind: "set-health", health: "down" },
    ]);
    assert.equal(plan.steps.length, 1, "the node already in srv1 needs nothing");
  });

  test("no hold-down when the policy turns it off or the slot has no checks", () => {
    const slots = emptySlots("be", 2).map((slot) => ({ ...slot, checksEnabled: false }));
    const plan = planReconcile([endpoint("a", "10.0.0.1")], slots, policy({ holdDownUntilChecked: true }));
    assert.deepEqual(stepFor(plan.steps, "srv1").activate, [{ kind: "set-state", state: "ready" }]);
    const plan2 = planReconcile([endpoint("a", "10.0.0.1")], emptySlots("be", 2), policy({ holdDownUntilChecked: false }));
    assert.deepEqual(stepFor(plan2.steps, "srv1").activate, [{ kind: "set-state", state: "ready" }]);
  });

  test("pow false / true / only choose the backends", () => {
    const slots = [...emptySlots("be", 3), ...emptySlots("pow", 3)];
    const plan = planReconcile(
      [endpoint("plain", "10.0.0.1", "passing", { pow: "false" }), endpoint("both", "10.0.0.2", "passing", { pow: "true" }), endpoint("only", "10.0.0.3", "passing", { pow: "only" })],
      slots,
      policy(),
    );
    const placed = plan.steps.map((step) => `${step.backend}:${step.serviceId}`).sort();
    assert.deepEqual(placed, ["be:both", "be:plain", "pow:both", "pow:only"]);
    // The PoW backend uses its own default maxconn; the default backend its own.
    const powStep = plan.steps.find((step) => step.backend === "pow" && step.serviceId === "both");
    assert.ok(powStep?.prepare.some((operation) => operation.kind === "set-maxconn" && operation.maxconn === 2));
  });

  test("node maxconn and weight are applied, pow_maxconn only in the PoW backend", () => {
    const slots = [...emptySlots("be", 1), ...emptySlots("pow", 1)];
    const plan = planReconcile([endpoint("a", "10.0.0.1", "passing", { pow: "true", maxconn: 7, powMaxconn: 1, weight: 50 })], slots, policy());
    assert.deepEqual(stepFor(plan.steps, "srv1", "be").prepare.slice(1), [
      { kind: "set-weight", weight: 50 },
      { kind: "set-maxconn", maxconn: 7 },
    ]);
    assert.deepEqual(stepFor(plan.steps, "srv1", "pow").prepare.slice(1), [
      { kind: "set-weight", weight: 50 },
      { kind: "set-maxconn", maxconn: 1 },
    ]);
  });

  test("a reused slot is reset to the new node's values or the defaults", () => {
    // srv1 was freed with the previous node's weight 80 and maxconn 9 still set.
    const slots = emptySlots("be", 1).map((slot) => ({ ...slot, address: "10.0.0.50", port: 14265, weight: 80, maxconn: 9 }));
    const plan = planReconcile([endpoint("new", "10.0.0.2")], slots, policy());
    const step = stepFor(plan.steps, "srv1");
    assert.deepEqual(step.prepare, [
      { kind: "set-addr", address: "10.0.0.2", port: 14265 },
      { kind: "set-weight", weight: 1 },
      { kind: "set-maxconn", maxconn: 0 },
    ]);
  });

  test("a fill sends weight and maxconn exactly when the free slot's value differs", () => {
    const [fresh] = emptySlots("be", 1);
    const fill = (slot: Slot, settings: Partial<NodeSettings>) => stepFor(planReconcile([endpoint("a", "10.0.0.3", "passing", settings)], [slot], policy()).steps, "srv1").prepare;
    const address = { kind: "set-addr", address: "10.0.0.3", port: 14265 };
    assert.deepEqual(fill(fresh!, { weight: 1, maxconn: 0 }), [address]);
    assert.deepEqual(fill(fresh!, { weight: 2 }), [address, { kind: "set-weight", weight: 2 }]);
    assert.deepEqual(fill(fresh!, { maxconn: 5 }), [address, { kind: "set-maxconn", maxconn: 5 }]);
    // A slot freed earlier still has its old node's values: the new node's own (equal or not) are compared with those.
    const used = { ...fresh!, weight: 30, maxconn: 5 };
    assert.deepEqual(fill(used, { maxconn: 5 }), [address, { kind: "set-weight", weight: 1 }]);
    assert.deepEqual(fill(used, { weight: 30 }), [address, { kind: "set-maxconn", maxconn: 0 }]);
    assert.deepEqual(fill(used, { weight: 30, maxconn: 5 }), [address]);
  });

  test("a changed setting on an existing node is updated in place, without moving it", () => {
    const slots = emptySlots("be", 3);
    slots[2] = occupy(slots[2]!, "10.0.0.1", { weight: 1, maxconn: 0 });
    const plan = planReconcile([endpoint("a", "10.0.0.1", "passing", { weight: 20, maxconn: 3 })], slots, policy());
    assert.equal(plan.steps.length, 1);
    const step = stepFor(plan.steps, "srv3");
    assert.deepEqual(step.prepare, [
      { kind: "set-weight", weight: 20 },
      { kind: "set-maxconn", maxconn: 3 },
    ]);
    assert.deepEqual(step.activate, []);
  });

  test("health maps to states: warning per policy, maintenance drains, critical goes to maint", () => {
    const slots = emptySlots("be", 4).map((slot, index) => occupy(slot, `10.0.0.${index + 1}`));
    const endpoints = [endpoint("p", "10.0.0.1", "passing"), endpoint("w", "10.0.0.2", "warning"), endpoint("m", "10.0.0.3", "maintenance"), endpoint("c", "10.0.0.4", "critical")];
    const ready = planReconcile(endpoints, slots, policy({ warningAs: "ready" }));
    assert.equal(ready.steps.find((step) => step.serviceId === "w"), undefined);
    assert.deepEqual(stepFor(ready.steps, "srv3").activate, [{ kind: "set-state", state: "drain" }]);
    assert.deepEqual(stepFor(ready.steps, "srv4").activate, [{ kind: "set-state", state: "maint" }]);
    const drain = planReconcile(endpoints, slots, policy({ warningAs: "drain" }));
    assert.deepEqual(stepFor(drain.steps, "srv2").activate, [{ kind: "set-state", state: "drain" }]);
  });

  test("a critical node never gets a new slot, and keeps its slot in maint", () => {
    const slots = emptySlots("be", 2);
    slots[1] = occupy(slots[1]!, "10.0.0.2", { adminState: "maint", status: "MAINT" });
    const plan = planReconcile([endpoint("new-critical", "10.0.0.1", "critical"), endpoint("old-critical", "10.0.0.2", "critical")], slots, policy());
    assert.deepEqual(plan.steps, []);
    // Recovery: passing again -> the same slot, back to ready, held down until checked.
    const recovered = planReconcile([endpoint("old-critical", "10.0.0.2", "passing")], slots, policy());
    assert.deepEqual(stepFor(recovered.steps, "srv2").activate, [
      { kind: "set-state", state: "ready" },
      { kind: "set-health", health: "down" },
    ]);
  });

  test("a node that left Consul is drained, then freed once drained or idle", () => {
    const slots = emptySlots("be", 1);
    const ready = [occupy(slots[0]!, "10.0.0.1", { sessions: 3 })];
    const first = planReconcile([], ready, policy());
    assert.deepEqual(stepFor(first.steps, "srv1").activate, [{ kind: "set-state", state: "drain" }]);
    assert.equal(first.draining, 1);

    const busyDraining = [occupy(slots[0]!, "10.0.0.1", { adminState: "drain", status: "DRAIN", sessions: 3, secondsSinceChange: 5 })];
    const second = planReconcile([], busyDraining, policy({ drainSeconds: 30 }));
    assert.deepEqual(second.steps, [], "still has sessions and time left: keep draining");
    assert.equal(second.draining, 1);

    const timedOut = [occupy(slots[0]!, "10.0.0.1", { adminState: "drain", sessions: 3, secondsSinceChange: 31 })];
    const freed = [
      { kind: "set-state", state: "maint" },
      { kind: "set-addr", address: "0.0.0.0", port: 14265 },
    ];
    assert.deepEqual(stepFor(planReconcile([], timedOut, policy({ drainSeconds: 30 })).steps, "srv1").activate, freed);

    const idle = [occupy(slots[0]!, "10.0.0.1", { adminState: "drain", sessions: 0, secondsSinceChange: 1 })];
    assert.deepEqual(stepFor(planReconcile([], idle, policy()).steps, "srv1").activate, freed);
  });

  test("a freed slot forgets its node's address, so a later node at that address:port is not credited a stale slot", () => {
    // srv2 held a node that went critical (maint, address kept), then left Consul.
    const slots = emptySlots("be", 2);
    slots[1] = occupy(slots[1]!, "10.0.0.5", { adminState: "maint", status: "MAINT" });
    const plan = planReconcile([], slots, policy());
    assert.deepEqual(stepFor(plan.steps, "srv2").activate, [{ kind: "set-addr", address: "0.0.0.0", port: 14265 }]);
    assert.deepEqual(plan.usage.find((usage) => usage.backend === "be"), { backend: "be", total: 2, used: 0, free: 2 });
    // Once forgotten, nothing more to do; a slot that is filled in the same plan is not forgotten first.
    const forgotten = slots.map((slot) => ({ ...slot, address: undefined, port: undefined, adminState: "maint" as const }));
    assert.deepEqual(planReconcile([], forgotten, policy()).steps, []);
    const refill = planReconcile([endpoint("new", "10.0.0.7")], slots, policy());
    assert.equal(refill.steps.filter((step) => step.server === "srv1").length, 1);
    assert.ok(refill.steps.some((step) => step.server === "srv2" && step.reason.startsWith("free: forget")));
  });

  test("out of slots: no eviction, the nodes left out are named", () => {
    const slots = emptySlots("be", 2).map((slot, index) => occupy(slot, `10.0.0.${index + 1}`));
    const plan = planReconcile([endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2"), endpoint("c", "10.0.0.3"), endpoint("d", "10.0.0.4")], slots, policy());
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(
      plan.leftOut.map((left) => left.serviceId),
      ["c", "d"],
    );
    assert.match(plan.leftOut[0]!.reason, /no free slot in be\/srv/);
  });

  test("out of slots with grow: add server with the class keywords, enable health, hold down", () => {
    const growing: SlotClass = { ...httpClass, growKeywords: ["check", "inter", "1s"], growLimit: 3 };
    const slots = emptySlots("be", 2).map((slot, index) => occupy(slot, `10.0.0.${index + 1}`));
    const plan = planReconcile(
      [endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2"), endpoint("c", "10.0.0.3"), endpoint("d", "10.0.0.4")],
      slots,
      policy({ backends: [backend("be", "default", [growing])] }),
    );
    const step = stepFor(plan.steps, "srv3");
    assert.deepEqual(step.prepare[0], { kind: "add-server", address: "10.0.0.3", port: 14265, keywords: ["check", "inter", "1s"] });
    assert.deepEqual(step.activate, [{ kind: "enable-health" }, { kind: "set-state", state: "ready" }, { kind: "set-health", health: "down" }]);
    assert.deepEqual(plan.leftOut.map((left) => left.serviceId), ["d"], "grow.limit 3 stops at srv3");
  });

  test("scheme https with verification picks the TLS class; no class -> left out with a reason", () => {
    const classes = [httpClass, tlsClass];
    const slots = [...emptySlots("be", 2), ...emptySlots("be", 2, "tls")];
    const plan = planReconcile(
      [endpoint("secure", "10.0.0.1", "passing", { scheme: "https" }), endpoint("noverify", "10.0.0.2", "passing", { scheme: "https", sslVerify: false })],
      slots,
      policy({ backends: [backend("be", "default", classes)] }),
    );
    assert.equal(stepFor(plan.steps, "tls1").serviceId, "secure");
    assert.equal(plan.leftOut.length, 1);
    assert.equal(plan.leftOut[0]!.serviceId, "noverify");
    assert.match(plan.leftOut[0]!.reason, /no slot class for scheme=https sslverify=false/);
  });

  test("moving a node to another class drains its old slot and fills one in the new class", () => {
    const classes = [httpClass, tlsClass];
    const slots = [occupy(emptySlots("be", 1)[0]!, "10.0.0.1"), ...emptySlots("be", 1, "tls")];
    const plan = planReconcile([endpoint("a", "10.0.0.1", "passing", { scheme: "https" })], slots, policy({ backends: [backend("be", "default", classes)] }));
    assert.deepEqual(stepFor(plan.steps, "srv1").activate, [{ kind: "set-state", state: "drain" }]);
    assert.equal(stepFor(plan.steps, "tls1").reason, "fill");
  });

  test("two registrations of one address:port share nothing: the second is left out", () => {
    const plan = planReconcile([endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.1")], emptySlots("be", 3), policy());
    assert.equal(plan.steps.length, 1);
    assert.deepEqual(plan.leftOut, [{ backend: "be", serviceId: "b", reason: "same address and port as a" }]);
  });

  test("duplicate slots holding one node: the lowest keeps it, the other is drained", () => {
    const slots = emptySlots("be", 2).map((slot) => occupy(slot, "10.0.0.1"));
    const plan = planReconcile([endpoint("a", "10.0.0.1")], slots, policy());
    assert.deepEqual(plan.steps.map((step) => `${step.server}:${step.reason}`), ["srv2:drain: node left Consul"]);
  });

  test("re-planning after applying is a no-op (idempotence)", () => {
    const slots = emptySlots("be", 3);
    slots[0] = occupy(slots[0]!, "10.0.0.1", { weight: 5, maxconn: 4 });
    const plan = planReconcile([endpoint("a", "10.0.0.1", "passing", { weight: 5, maxconn: 4 })], slots, policy());
    assert.deepEqual({ ...plan, usage: undefined }, { steps: [], leftOut: [], draining: 0, usage: undefined, versions: [] });
  });

  test("slot usage counts what the plan leaves: filled, held, draining and free slots", () => {
    const slots = emptySlots("be", 4);
    slots[0] = occupy(slots[0]!, "10.0.0.1");
    slots[1] = occupy(slots[1]!, "10.0.0.9", { adminState: "drain", sessions: 2, secondsSinceChange: 1 });
    const plan = planReconcile([endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2")], slots, policy());
    // srv1 held by a, srv2 still draining, srv3 filled with b, srv4 free.
    assert.deepEqual(plan.usage.find((usage) => usage.backend === "be"), { backend: "be", total: 4, used: 3, free: 1 });
  });
});

describe("slot class choice", () => {
  const fast: SlotClass = { prefix: "fast", scheme: "http", sslVerify: true, timeoutClass: "fast", growKeywords: [], growLimit: 0 };
  const tlsNoVerify: SlotClass = { prefix: "tlsnv", scheme: "https", sslVerify: false, timeoutClass: "default", growKeywords: [], growLimit: 0 };
  const be = backend("be", "default", [httpClass, fast, tlsClass, tlsNoVerify]);

  test("the timeout class must match: a fast node never lands in the default class", () => {
    assert.equal(classFor(endpoint("f", "10.0.0.1", "passing", { timeoutClass: "fast" }), be), fast);
    assert.equal(classFor(endpoint("d", "10.0.0.2"), be), httpClass);
    assert.equal(classFor(endpoint("g", "10.0.0.3", "passing", { timeoutClass: "glacial" }), be), undefined);
    const fastTls = endpoint("ft", "10.0.0.4", "passing", { scheme: "https", timeoutClass: "fast" });
    assert.equal(classFor(fastTls, be), undefined, "no https class with the fast timing");
  });

  test("the scheme must match, and for https the verification too; for http it does not matter", () => {
    assert.equal(classFor(endpoint("s", "10.0.0.1", "passing", { scheme: "https" }), be), tlsClass);
    assert.equal(classFor(endpoint("n", "10.0.0.2", "passing", { scheme: "https", sslVerify: false }), be), tlsNoVerify);
    assert.equal(classFor(endpoint("h", "10.0.0.3", "passing", { sslVerify: false }), be), httpClass);
  });

  test("a planned fill goes to the class's slots: fast node in fast1, not srv1", () => {
    const slots = [...emptySlots("be", 2), ...emptySlots("be", 2, "fast")];
    const plan = planReconcile([endpoint("f", "10.0.0.1", "passing", { timeoutClass: "fast" })], slots, { ...policy(), backends: [be] });
    assert.deepEqual(plan.steps.map((step) => step.server), ["fast1"]);
  });
});

describe("planner edges (from surviving mutants)", () => {
  test("nodes fill the lowest slots in service ID order, whatever order Consul lists them in", () => {
    const plan = planReconcile([endpoint("c", "10.0.0.3"), endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2")], emptySlots("be", 3), policy());
    assert.deepEqual(
      plan.steps.filter((step) => step.backend === "be").map((step) => `${step.server}=${step.serviceId}`),
      ["srv1=a", "srv2=b", "srv3=c"],
    );
  });

  test("a drain expires at exactly drainSeconds, not a second later", () => {
    const slot = occupy(emptySlots("be", 1)[0]!, "10.0.0.1", { adminState: "drain", status: "DRAIN", sessions: 3, secondsSinceChange: 30 });
    // Freed: maint, and the old node's address forgotten (0.0.0.0, as a template slot starts).
    assert.deepEqual(stepFor(planReconcile([], [slot], policy({ drainSeconds: 30 })).steps, "srv1").activate, [
      { kind: "set-state", state: "maint" },
      { kind: "set-addr", address: "0.0.0.0", port: 14265 },
    ]);
    const early = { ...slot, secondsSinceChange: 29 };
    assert.deepEqual(planReconcile([], [early], policy({ drainSeconds: 30 })).steps, []);
  });

  test("a slot in rotation without an address is freed; usage counts slots freed by the plan as free", () => {
    const slots = emptySlots("be", 3);
    slots[0] = { ...slots[0]!, adminState: "ready", status: "UP" };
    slots[1] = occupy(slots[1]!, "10.0.0.9", { adminState: "drain", status: "DRAIN", sessions: 0 });
    const plan = planReconcile([], slots, policy());
    const srv1 = stepFor(plan.steps, "srv1");
    assert.equal(srv1.reason, "free: slot without a node");
    assert.deepEqual(srv1.activate, [{ kind: "set-state", state: "maint" }]);
    assert.equal(stepFor(plan.steps, "srv2").reason, "free: drained");
    assert.equal(plan.draining, 0);
    assert.deepEqual(plan.usage.find((usage) => usage.backend === "be"), { backend: "be", total: 3, used: 0, free: 3 });
  });

  test("grown slots count in usage; growing stops at the class's limit", () => {
    const growing: SlotClass = { ...httpClass, growKeywords: ["check"], growLimit: 2 };
    const plan = planReconcile([endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.2"), endpoint("c", "10.0.0.3")], emptySlots("be", 1), {
      ...policy(),
      backends: [backend("be", "default", [growing])],
    });
    assert.deepEqual(plan.steps.map((step) => `${step.server}=${step.serviceId}`), ["srv1=a", "srv2=b"]);
    assert.deepEqual(stepFor(plan.steps, "srv2").prepare, [
      { kind: "add-server", address: "10.0.0.2", port: 14265, keywords: ["check"] },
      { kind: "set-weight", weight: 1 },
      { kind: "set-maxconn", maxconn: 0 },
    ]);
    assert.deepEqual(plan.leftOut.map((left) => left.serviceId), ["c"]);
    assert.match(plan.leftOut[0]?.reason ?? "", /^no free slot in be\/srv .*raise grow.limit \(2\)$/);
    assert.deepEqual(plan.usage.find((usage) => usage.backend === "be"), { backend: "be", total: 2, used: 2, free: 0 });
  });

  test("a backend only takes its own service's nodes", () => {
    const other = { ...endpoint("x", "10.0.0.7"), serviceName: "other" };
    const plan = planReconcile([other], emptySlots("be", 1), policy());
    assert.deepEqual(plan.steps, []);
  });
});

// Written for survivors of the mutation run of 2026-12-06 (docs/mutation-survivors.md, "a test gap").
describe("planner: gaps the mutation run found", () => {
  test("a passing node is ready whatever the policy does with warning", () => {
    const plan = planReconcile([endpoint("a", "10.0.0.1"), endpoint("w", "10.0.0.2", "warning")], emptySlots("be", 3), policy({ warningAs: "drain" }));
    assert.deepEqual(stepFor(plan.steps, "srv1").activate[0], { kind: "set-state", state: "ready" });
    assert.equal(stepFor(plan.steps, "srv1").serviceId, "a");
  });

  test("a free slot that still names a departed node's address and is filled now gets the fill alone, not also the forget", () => {
    const slots = emptySlots("be", 3);
    slots[0] = occupy(slots[0]!, "10.0.0.7", { adminState: "maint", status: "MAINT" });
    const plan = planReconcile([endpoint("a", "10.0.0.1")], slots, policy());
    assert.deepEqual(plan.steps.map((step) => [step.server, step.serviceId]), [["srv1", "a"]]);
    assert.deepEqual(stepFor(plan.steps, "srv1").prepare[0], { kind: "set-addr", address: "10.0.0.1", port: 14265 });
    // Nobody filling it, the same slot is freed of the old address.
    const alone = planReconcile([], slots, policy());
    assert.deepEqual(alone.steps.map((step) => [step.server, step.reason]), [["srv1", "free: forget the address of a node no longer in Consul"]]);
  });

  test("the lowest free slot is filled first, whatever order HAProxy lists the slots in", () => {
    const slots = emptySlots("be", 6);
    const listed = [...slots.slice(3), ...slots.slice(0, 3)];
    const plan = planReconcile([endpoint("a", "10.0.0.1")], listed, policy());
    assert.deepEqual(plan.steps.map((step) => step.server), ["srv1"]);
  });
});
