import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planReconcile } from "../../../handler/planner/plan.js";
import { canaryWeights, generationOf } from "../../../handler/planner/versions.js";
import { compareVersions, parseVersion } from "../../../handler/planner/semver.js";
import type { BackendPolicy, Endpoint, Health, NodeSettings, Plan, PlannerPolicy, PlanStep, Slot, SlotClass, VersioningPolicy } from "../../../handler/planner/model.js";
import { settingOf, type SettingOperation } from "../../../handler/planner/slot-settings.js";
import { emptySlots } from "../slot-fixtures.js";

const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };
const on: VersioningPolicy = { compatible: "minor", prefer: "newest", canaryPercent: 0 };

function policy(versioning: Partial<VersioningPolicy> = {}): PlannerPolicy {
  const shared = { ...on, ...versioning };
  const backends: BackendPolicy[] = [
    { backend: "be", role: "default", serviceName: "iri", classes: [httpClass], defaults: { weight: 1, maxconn: 0 }, versioning: shared },
    { backend: "pow", role: "pow", serviceName: "iri", classes: [httpClass], defaults: { weight: 1, maxconn: 2 }, versioning: shared },
  ];
  return { backends, warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: true, maxWeight: 256 };
}

let nextPort = 20000;
const ports = new Map<string, number>();
function portOf(id: string): number {
  const known = ports.get(id);
  if (known !== undefined) return known;
  nextPort += 1;
  ports.set(id, nextPort);
  return nextPort;
}

function node(id: string, version: string | undefined, health: Health = "passing", settings: Partial<NodeSettings> = {}): Endpoint {
  return {
    serviceName: "iri",
    serviceId: id,
    node: "n1",
    address: "10.0.0.1",
    port: portOf(id),
    health,
    settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default", ...(version === undefined ? {} : { version }), ...settings },
  };
}


/** HAProxy after a plan: the planner's operations applied to the slots (checks pass at once). */
function applied(slots: readonly Slot[], plan: Plan): Slot[] {
  const next = slots.map((slot) => ({ ...slot }));
  for (const step of plan.steps) {
    const slot = next.find((candidate) => candidate.backend === step.backend && candidate.name === step.server);
    assert.ok(slot, `a step for an unknown slot ${step.backend}/${step.server}`);
    for (const operation of [...step.prepare, ...step.activate]) if (operation.kind.startsWith("set-")) settingOf(operation.kind)?.record(slot, operation as SettingOperation);
  }
  return next;
}

/** Plans from empty slots until HAProxy matches (the handler's reconcile loop, without I/O). */
function settle(endpoints: Endpoint[], planner: PlannerPolicy, slots: Slot[] = [...emptySlots("be", 6), ...emptySlots("pow", 6)], promoted?: string): { slots: Slot[]; plans: Plan[] } {
  const plans: Plan[] = [];
  let current = slots;
  for (let round = 0; round < 5; round += 1) {
    const plan = planReconcile(endpoints, current, planner, promoted === undefined ? {} : { promoted: new Map([["iri", promoted]]) });
    plans.push(plan);
    if (plan.steps.length === 0) return { slots: current, plans };
    current = applied(current, plan);
  }
  assert.fail(`the plan did not settle: ${JSON.stringify(plans.at(-1)?.steps)}`);
}

/** Weight per service ID in one backend, as HAProxy would hold it. */
function weights(slots: readonly Slot[], endpoints: readonly Endpoint[], backend = "be"): Record<string, number> {
  const result: Record<string, number> = {};
  for (const endpoint of endpoints) {
    const slot = slots.find((candidate) => candidate.backend === backend && candidate.address === endpoint.address && candidate.port === endpoint.port);
    if (slot && slot.adminState === "ready") result[endpoint.serviceId] = slot.weight;
  }
  return result;
}

function weightStep(steps: PlanStep[], server: string, backend = "be"): number | undefined {
  const step = steps.find((candidate) => candidate.server === server && candidate.backend === backend);
  const operation = step?.prepare.find((candidate) => candidate.kind === "set-weight");
  return operation?.kind === "set-weight" ? operation.weight : undefined;
}

describe("versions: parsing and generations", () => {
  test("MAJOR.MINOR.PATCH with an optional pre-release; everything else is not a version", () => {
    for (const good of ["1.0.0", "0.0.1", "10.20.30", "1.1.0-rc.1", "2.0.0-alpha", "1.0.0-0.3.7", "1.0.0-x-y.z"]) assert.ok(parseVersion(good), good);
    for (const bad of ["1.0", "1", "v1.0.0", "1.0.0+build", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0 ", " 1.0.0", "1.0.0;show info", "", "1.0.0-a..b", `1.0.0-${"a".repeat(70)}`]) {
      assert.equal(parseVersion(bad), undefined, bad);
    }
  });

  test("precedence follows semver: pre-releases before their release, numeric identifiers numerically", () => {
    const ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"];
    for (let index = 1; index < ordered.length; index += 1) {
      const older = parseVersion(ordered[index - 1] ?? "");
      const newer = parseVersion(ordered[index] ?? "");
      assert.ok(older && newer);
      assert.ok(compareVersions(older, newer) < 0, `${ordered[index - 1]} < ${ordered[index]}`);
    }
  });

  test("generations under each compatibility rule", () => {
    assert.equal(generationOf("1.4.2", "minor").label, "1.4.x");
    assert.equal(generationOf("1.4.2", "major").label, "1.x");
    assert.equal(generationOf("1.4.2-rc.1", "exact").label, "1.4.2-rc.1");
    assert.equal(generationOf(undefined, "minor").label, "unversioned");
  });
});

describe("versions: the planner", () => {
  test("compatible versions mix: a new PATCH serves at once", () => {
    const planner = policy();
    const first = [node("a", "1.0.1"), node("b", "1.0.1")];
    const { slots } = settle(first, planner);
    const all = [...first, node("c", "1.0.2")];
    const { slots: after, plans } = settle(all, planner, slots);
    assert.deepEqual(weights(after, all), { a: 1, b: 1, c: 1 });
    assert.equal(plans[0]?.versions[0]?.switchReason, undefined);
    assert.equal(plans[0]?.versions[0]?.serving, "1.0.x");
  });

  test("sticky: a newer MINOR is filled and checked but waits (weight 0) while the serving generation is healthy", () => {
    const planner = policy({ prefer: "newest" });
    const first = [node("a", "1.0.1"), node("b", "1.0.2")];
    const { slots } = settle(first, planner);
    const all = [...first, node("c", "1.1.0")];
    const { slots: after, plans } = settle(all, planner, slots);
    assert.deepEqual(weights(after, all), { a: 1, b: 1, c: 0 });
    // Filled in state ready with weight 0: HAProxy checks it, sends it nothing new.
    const fill = plans[0]?.steps.find((step) => step.serviceId === "c" && step.backend === "be");
    assert.ok(fill);
    assert.ok(fill.prepare.some((operation) => operation.kind === "set-weight" && operation.weight === 0));
    assert.ok(fill.activate.some((operation) => operation.kind === "set-state" && operation.state === "ready"));
    const decision = plans[0]?.versions[0];
    assert.equal(decision?.serving, "1.0.x");
    assert.equal(decision?.switchReason, undefined);
    assert.equal(decision?.members.get("c")?.role, "waiting");
  });

  test("a restarted handler (same HAProxy, same Consul) keeps the same serving generation, even if prefer says otherwise", () => {
    const all = [node("a", "1.0.1"), node("c", "1.1.0")];
    const { slots } = settle([node("a", "1.0.1")], policy());
    const { slots: mixed } = settle(all, policy(), slots);
    // Same state, planned afresh (and with prefer oldest/newest alike): nothing to do, 1.0.x serves.
    for (const prefer of ["newest", "oldest"] as const) {
      const plan = planReconcile(all, mixed, policy({ prefer }));
      assert.deepEqual(plan.steps, []);
      assert.equal(plan.versions[0]?.serving, "1.0.x");
    }
  });

  for (const [how, change] of [
    ["goes critical", (endpoints: Endpoint[]) => endpoints.map((endpoint) => (endpoint.settings.version === "1.0.1" ? { ...endpoint, health: "critical" as const } : endpoint))],
    ["is gone from Consul", (endpoints: Endpoint[]) => endpoints.filter((endpoint) => endpoint.settings.version !== "1.0.1")],
    ["is in maintenance", (endpoints: Endpoint[]) => endpoints.map((endpoint) => (endpoint.settings.version === "1.0.1" ? { ...endpoint, health: "maintenance" as const } : endpoint))],
  ] as const) {
    test(`the switch: when the last old instance ${how}, the waiting generation takes over in one plan`, () => {
      const planner = policy();
      const before = [node("old", "1.0.1"), node("new1", "1.1.0"), node("new2", "1.1.3")];
      const { slots } = settle([node("old", "1.0.1")], planner);
      const { slots: waiting } = settle(before, planner, slots);
      assert.deepEqual(weights(waiting, before), { old: 1, new1: 0, new2: 0 });
      const after = change(before);
      const plan = planReconcile(after, waiting, planner);
      const decision = plan.versions[0];
      // A node gone from Consul takes its version along: HAProxy only shows its address.
      assert.equal(decision?.previous, how === "is gone from Consul" ? undefined : "1.0.x");
      assert.equal(decision?.serving, "1.1.x");
      assert.match(decision?.switchReason ?? "", /serving generation (1\.0\.x )?has no (healthy )?instance left/);
      // One plan: the new generation's weights and the old one's state change together.
      const settled = applied(waiting, plan);
      assert.equal(weights(settled, after)["new1"], 1);
      assert.equal(weights(settled, after)["new2"], 1);
      const oldSlot = settled.find((slot) => slot.backend === "be" && slot.port === portOf("old"));
      assert.notEqual(oldSlot?.adminState, "ready");
      // The switch is reported once: the next plan sees 1.1.x serving in HAProxy.
      const again = planReconcile(after, settled, planner);
      assert.equal(again.versions[0]?.switchReason, undefined);
      assert.equal(again.versions[0]?.previous, "1.1.x");
    });
  }

  test("one old instance still healthy keeps its generation serving", () => {
    const planner = policy();
    const before = [node("old1", "1.0.1"), node("old2", "1.0.2"), node("new", "1.1.0")];
    const { slots } = settle(before.slice(0, 2), planner);
    const { slots: waiting } = settle(before, planner, slots);
    const after = before.map((endpoint) => (endpoint.serviceId === "old1" ? { ...endpoint, health: "critical" as const } : endpoint));
    const { slots: settled, plans } = settle(after, planner, waiting);
    assert.equal(plans[0]?.versions[0]?.serving, "1.0.x");
    assert.deepEqual(weights(settled, after), { old2: 1, new: 0 });
  });

  test("prefer: which generation serves when the handler first meets several", () => {
    const endpoints = [node("a", "1.0.1"), node("b", "1.1.0"), node("c", "2.0.0")];
    const newest = settle(endpoints, policy({ prefer: "newest" }));
    assert.deepEqual(weights(newest.slots, endpoints), { a: 0, b: 0, c: 1 });
    assert.match(newest.plans[0]?.versions[0]?.switchReason ?? "", /prefer newest/);
    const oldest = settle(endpoints, policy({ prefer: "oldest" }));
    assert.deepEqual(weights(oldest.slots, endpoints), { a: 1, b: 0, c: 0 });
  });

  test("prefer: a mix from before versioning was on (several generations with traffic) is resolved by prefer", () => {
    const endpoints = [node("a", "1.0.1"), node("b", "1.1.0")];
    const unversioned: PlannerPolicy = { ...policy(), backends: policy().backends.map(({ versioning: _ignored, ...rest }) => rest) };
    const { slots } = settle(endpoints, unversioned);
    assert.deepEqual(weights(slots, endpoints), { a: 1, b: 1 });
    const oldest = settle(endpoints, policy({ prefer: "oldest" }), slots);
    assert.deepEqual(weights(oldest.slots, endpoints), { a: 1, b: 0 });
    assert.match(oldest.plans[0]?.versions[0]?.switchReason ?? "", /several generations took traffic/);
  });

  test("prefer decides which waiting generation takes over", () => {
    const before = [node("old", "1.1.0"), node("older", "1.0.0"), node("newer", "1.2.0")];
    for (const [prefer, expected] of [
      ["newest", "1.2.x"],
      ["oldest", "1.0.x"],
    ] as const) {
      const planner = policy({ prefer });
      const { slots } = settle([node("old", "1.1.0")], planner);
      const { slots: waiting } = settle(before, planner, slots);
      const plan = planReconcile(before.filter((endpoint) => endpoint.serviceId !== "old"), waiting, planner);
      assert.equal(plan.versions[0]?.serving, expected);
    }
  });

  test("compatible: major mixes MINORs, exact keeps even PATCHes apart", () => {
    const endpoints = [node("a", "1.0.1"), node("b", "1.2.0"), node("c", "1.2.1")];
    assert.deepEqual(weights(settle(endpoints, policy({ compatible: "major" })).slots, endpoints), { a: 1, b: 1, c: 1 });
    assert.deepEqual(weights(settle(endpoints, policy({ compatible: "exact" })).slots, endpoints), { a: 0, b: 0, c: 1 });
  });

  test("canary: the newer generation gets about canaryPercent of the summed weights while the serving one is healthy", () => {
    for (const percent of [1, 5, 10, 25, 50]) {
      const planner = policy({ canaryPercent: percent });
      const first = [node("a", "1.0.1"), node("b", "1.0.2")];
      const { slots } = settle(first, planner);
      const all = [...first, node("c", "1.1.0")];
      const { slots: after, plans } = settle(all, planner, slots);
      const held = weights(after, all);
      const share = (100 * (held["c"] ?? 0)) / ((held["a"] ?? 0) + (held["b"] ?? 0) + (held["c"] ?? 0));
      assert.ok(Math.abs(share - percent) < 0.5, `canary share ${share}% for canaryPercent ${percent} (${JSON.stringify(held)})`);
      const decision = plans.at(-1)?.versions[0];
      assert.equal(decision?.serving, "1.0.x", "the canary does not become the serving generation");
      assert.equal(decision?.canary, "1.1.x");
      assert.equal(decision?.switchReason, undefined);
    }
  });

  test("canary weights stay within the policy's maxWeight (the runtime API's limit reaches the planner there)", () => {
    const first = [node("a", "1.0.1"), node("b", "1.0.2")];
    const all = [...first, node("c", "1.1.0")];
    const largestWeight = (maxWeight: number): number => {
      const planner = { ...policy({ canaryPercent: 10 }), maxWeight };
      const { slots } = settle(first, planner);
      const { slots: after, plans } = settle(all, planner, slots);
      assert.equal(plans.at(-1)?.versions[0]?.canary, "1.1.x");
      return Math.max(...Object.values(weights(after, all)));
    };
    assert.equal(largestWeight(256), 256, "with HAProxy's limit the serving weights scale up to it");
    assert.equal(largestWeight(20), 20, "a smaller limit in the policy caps them");
  });

  test("canary: re-planning is stable, and the canary takes over when the serving generation is gone", () => {
    const planner = policy({ canaryPercent: 10 });
    const all = [node("a", "1.0.1"), node("c", "1.1.0")];
    const { slots } = settle([node("a", "1.0.1")], planner);
    const { slots: canary } = settle(all, planner, slots);
    assert.deepEqual(planReconcile(all, canary, planner).steps, []);
    const plan = planReconcile([node("c", "1.1.0")], canary, planner);
    assert.equal(plan.versions[0]?.serving, "1.1.x");
    assert.equal(weights(applied(canary, plan), all)["c"], 1);
  });

  test("canaryWeights keeps weights within HAProxy's 1..256 and 0 stays 0", () => {
    const { serving, canary } = canaryWeights([1, 1, 1], [1, 0], 10, 256);
    assert.ok(serving.every((weight) => weight >= 1 && weight <= 256));
    assert.ok((canary[0] ?? 0) >= 1 && (canary[0] ?? 0) <= 256);
    assert.equal(canary[1], 0);
    const crowded = canaryWeights([1], Array.from({ length: 300 }, () => 1), 50, 256);
    assert.ok(crowded.canary.every((weight) => weight >= 1 && weight <= 256));
  });

  test("promote: the promoted generation serves at once while it has a healthy instance, and re-planning is stable", () => {
    const planner = policy();
    const all = [node("a", "1.0.1"), node("c", "1.1.0")];
    const { slots } = settle([node("a", "1.0.1")], planner);
    const { slots: waiting } = settle(all, planner, slots);
    const { slots: promoted, plans } = settle(all, planner, waiting, "1.1.0");
    assert.deepEqual(weights(promoted, all), { a: 0, c: 1 });
    assert.match(plans[0]?.versions[0]?.switchReason ?? "", /promoted by the operator \(1\.1\.0\)/);
    assert.equal(plans[1]?.versions[0]?.switchReason, undefined);
    // Promoting back to an older generation works the same way.
    const { slots: back } = settle(all, planner, promoted, "1.0.1");
    assert.deepEqual(weights(back, all), { a: 1, c: 0 });
  });

  test("promote: a promoted generation without a healthy instance does not take traffic", () => {
    const planner = policy();
    const all = [node("a", "1.0.1"), node("c", "1.1.0", "critical")];
    const { slots, plans } = settle(all, planner, undefined, "1.1.0");
    assert.deepEqual(weights(slots, all), { a: 1 });
    assert.equal(plans[0]?.versions[0]?.promoted, undefined);
  });

  test("unversioned nodes are one generation, older than any version: a fleet without versions keeps serving", () => {
    const planner = policy();
    const legacy = [node("x", undefined), node("y", undefined)];
    const { slots } = settle(legacy, planner);
    assert.deepEqual(weights(slots, legacy), { x: 1, y: 1 });
    // A versioned node waits until the unversioned ones are gone...
    const mixed = [...legacy, node("v", "1.0.0")];
    const { slots: waiting, plans } = settle(mixed, planner, slots);
    assert.deepEqual(weights(waiting, mixed), { x: 1, y: 1, v: 0 });
    assert.equal(plans[0]?.versions[0]?.serving, "unversioned");
    // ... then takes over.
    const plan = planReconcile([node("v", "1.0.0")], waiting, planner);
    assert.equal(plan.versions[0]?.serving, "1.0.x");
    // Met together, prefer newest picks the versioned one.
    assert.deepEqual(weights(settle(mixed, planner).slots, mixed), { x: 0, y: 0, v: 1 });
  });

  test("the PoW backend follows the same decision", () => {
    const planner = policy();
    const first = [node("a", "1.0.1", "passing", { pow: "true" })];
    const { slots } = settle(first, planner);
    const all = [...first, node("c", "1.1.0", "passing", { pow: "only" })];
    const { slots: after } = settle(all, planner, slots);
    assert.deepEqual(weights(after, all, "pow"), { a: 1, c: 0 });
    const gone = [node("c", "1.1.0", "passing", { pow: "only" })];
    const plan = planReconcile(gone, after, planner);
    assert.equal(weights(applied(after, plan), gone, "pow")["c"], 1);
  });

  test("versioning off: versions change nothing", () => {
    const endpoints = [node("a", "1.0.1"), node("b", "2.0.0")];
    const unversioned: PlannerPolicy = { ...policy(), backends: policy().backends.map(({ versioning: _ignored, ...rest }) => rest) };
    const { slots, plans } = settle(endpoints, unversioned);
    assert.deepEqual(weights(slots, endpoints), { a: 1, b: 1 });
    assert.deepEqual(plans[0]?.versions, []);
    // No version weight either: the empty slot already has the default weight 1, so the fill sends none.
    assert.equal(weightStep(plans[0]?.steps ?? [], "srv1"), undefined);
  });
});
