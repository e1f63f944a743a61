// Backends of portmap entries (issue 17): every instance serves whatever its
// pow and TLS settings, at the entry's port when it has one, and `health:`
// decides whether a warning instance serves.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planReconcile } from "../../../handler/planner/plan.js";
import type { BackendPolicy, Endpoint, Health, NodeSettings, PlannerPolicy, SlotClass } from "../../../handler/planner/model.js";
import { emptySlots, freeSlot } from "../slot-fixtures.js";

const pmClass: SlotClass = { prefix: "pm", scheme: "http", sslVerify: false, timeoutClass: "default", growKeywords: [], growLimit: 0 };

function entryBackend(changes: Partial<BackendPolicy> = {}): BackendPolicy {
  return { backend: "pm_80_web", role: "default", serviceName: "web", classes: [pmClass], defaults: { weight: 1, maxconn: 0 }, everyNode: true, ...changes };
}

function policy(backends: BackendPolicy[]): PlannerPolicy {
  return { backends, warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: false, maxWeight: 256 };
}

function endpoint(id: string, address: string, health: Health = "passing", settings: Partial<NodeSettings> = {}): Endpoint {
  return { serviceName: "web", serviceId: id, node: "n1", address, port: 8080, health, settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default", ...settings } };
}

const filled = (plan: ReturnType<typeof planReconcile>) => plan.steps.map((step) => `${step.server} ${step.serviceId ?? "-"} ${JSON.stringify(step.prepare.find((operation) => operation.kind === "set-addr"))}`);

describe("portmap backends in the planner", () => {
  test("every instance serves: pow only, TLS and another timeout class take the entry's one slot class", () => {
    const nodes = [endpoint("a", "10.0.0.1", "passing", { pow: "only" }), endpoint("b", "10.0.0.2", "passing", { scheme: "https", sslVerify: false }), endpoint("c", "10.0.0.3", "passing", { timeoutClass: "slow" })];
    const plan = planReconcile(nodes, emptySlots("pm_80_web", 4, "pm"), policy([entryBackend()]));
    assert.deepEqual(plan.leftOut, []);
    assert.deepEqual(plan.steps.map((step) => step.serviceId).sort(), ["a", "b", "c"]);
    // The same nodes in a backend of the playbook's kind: pow only and the classes without a template are left out.
    const classic = planReconcile(nodes, emptySlots("pm_80_web", 4, "pm"), policy([entryBackend({ everyNode: false })]));
    assert.deepEqual(classic.leftOut.map((left) => left.serviceId).sort(), ["b", "c"]);
    assert.deepEqual(classic.steps.map((step) => step.serviceId), []);
  });

  test("the entry's port replaces the instances' own, and a slot at the old port is moved", () => {
    const plan = planReconcile([endpoint("a", "10.0.0.1")], emptySlots("pm_80_web", 2, "pm"), policy([entryBackend({ port: 9000 })]));
    assert.deepEqual(filled(plan), ['pm1 a {"kind":"set-addr","address":"10.0.0.1","port":9000}']);
    // Already there at the entry's port: nothing to do.
    const there = [freeSlot("pm_80_web", 1, "pm", { address: "10.0.0.1", port: 9000, adminState: "ready", status: "UP" })];
    assert.deepEqual(planReconcile([endpoint("a", "10.0.0.1")], there, policy([entryBackend({ port: 9000 })])).steps, []);
    // At the instance's own port (before the entry had `:9000`): it is not the same server.
    const before = [freeSlot("pm_80_web", 1, "pm", { address: "10.0.0.1", port: 8080, adminState: "ready", status: "UP" }), freeSlot("pm_80_web", 2, "pm")];
    const moved = planReconcile([endpoint("a", "10.0.0.1")], before, policy([entryBackend({ port: 9000 })]));
    assert.ok(moved.steps.some((step) => step.server === "pm2" && step.serviceId === "a"), JSON.stringify(moved.steps));
    assert.ok(moved.steps.some((step) => step.server === "pm1" && /drain/.test(step.reason)), JSON.stringify(moved.steps));
  });

  test("health: warning instances serve with health:warning, are drained with health:passing, whatever the policy says", () => {
    const ready = planReconcile([endpoint("a", "10.0.0.1", "warning")], emptySlots("pm_80_web", 1, "pm"), policy([entryBackend({ warningAs: "ready" })]));
    assert.ok(ready.steps[0]?.activate.some((operation) => operation.kind === "set-state" && operation.state === "ready"), JSON.stringify(ready.steps));
    const serving = [freeSlot("pm_80_web", 1, "pm", { address: "10.0.0.1", port: 8080, adminState: "ready", status: "UP" })];
    const drained = planReconcile([endpoint("a", "10.0.0.1", "warning")], serving, policy([entryBackend({ warningAs: "drain" })]));
    assert.ok(drained.steps[0]?.activate.some((operation) => operation.kind === "set-state" && operation.state === "drain"), JSON.stringify(drained.steps));
  });

  test("a portmap backend HAProxy has not loaded (no slots) leaves its nodes out saying so; a backend of the config with no slots says to add some", () => {
    const missing = planReconcile([endpoint("a", "10.0.0.1")], [], policy([entryBackend({ mayBeMissing: true })]));
    assert.deepEqual(missing.leftOut.map((left) => left.reason), ["HAProxy has no slots in pm_80_web: it has not loaded this portmap entry yet; load the rendered portmap into HAProxy (a reload)"]);
    const configured = planReconcile([endpoint("a", "10.0.0.1")], [], policy([entryBackend({ mayBeMissing: false })]));
    assert.match(configured.leftOut[0]?.reason ?? "", /^no free slot in pm_80_web\/pm \(0 slots, all held\)/);
    // Slots there but all taken: the usual reason, whatever the flag.
    const full = [freeSlot("pm_80_web", 1, "pm", { address: "10.0.0.9", port: 8080, adminState: "ready", status: "UP" })];
    const taken = planReconcile([endpoint("a", "10.0.0.1"), endpoint("b", "10.0.0.9")], full, policy([entryBackend({ mayBeMissing: true })]));
    assert.match(taken.leftOut[0]?.reason ?? "", /^no free slot in pm_80_web\/pm \(1 slots, all held\)/);
  });
});
