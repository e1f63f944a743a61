// decideVersions, canaryWeights and applyVersionWeights called directly, for
// what the planner-level tests in versions.test.ts left open (mutants that
// survived, docs/mutation-testing.md): precedence in both directions,
// choices that must not depend on the order Consul lists instances in, the
// reasons logged on a switch, the generation summary `status` shows, and the
// canary weights at their edges.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { servesBackend } from "../../../handler/planner/plan.js";
import { applyVersionWeights, canaryWeights, decideVersions, type WeightedServer } from "../../../handler/planner/versions.js";
import { compareVersions, MAX_VERSION_LENGTH, parseVersion } from "../../../handler/planner/semver.js";
import { freeSlot } from "../slot-fixtures.js";
import type { AdminState, BackendPolicy, Compatibility, Endpoint, Health, Slot, SlotClass, VersionDecision, VersioningPolicy } from "../../../handler/planner/model.js";

const httpClass: SlotClass = { prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 };

function backend(name: string, serviceName = "iri", versioning: VersioningPolicy = { compatible: "minor", prefer: "newest", canaryPercent: 0 }): BackendPolicy {
  return { backend: name, role: "default", serviceName, classes: [httpClass], defaults: { weight: 1, maxconn: 0 }, versioning };
}

function node(id: string, version: string | undefined, port: number, health: Health = "passing", serviceName = "iri"): Endpoint {
  return {
    serviceName,
    serviceId: id,
    node: "n1",
    address: "10.0.0.1",
    port,
    health,
    settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default", ...(version === undefined ? {} : { version }) },
  };
}

/** A slot taking traffic (ready, weight 1) for this node, or in another state. */
function slot(number: number, endpoint: Endpoint, adminState: AdminState = "ready", weight = 1, backendName = "be"): Slot {
  return freeSlot(backendName, number, "srv", { address: endpoint.address, port: endpoint.port, adminState, status: "UP", weight });
}

const inputs = { healthy: (endpoint: Endpoint) => endpoint.health === "passing", serves: servesBackend };

function decide(endpoints: Endpoint[], slots: Slot[] = [], versioning: Partial<VersioningPolicy> = {}, extraBackends: BackendPolicy[] = [], promoted?: string): VersionDecision {
  const policy: VersioningPolicy = { compatible: "minor", prefer: "newest", canaryPercent: 0, ...versioning };
  return decideVersions("iri", policy, endpoints, slots, [backend("be", "iri", policy), ...extraBackends], inputs, promoted);
}

function order(a: string, b: string): number {
  const parsedA = parseVersion(a);
  const parsedB = parseVersion(b);
  assert.ok(parsedA && parsedB, `${a} and ${b} parse`);
  return compareVersions(parsedA, parsedB);
}

describe("versions: precedence in both directions", () => {
  test("each pair is ordered both ways and every version equals itself", () => {
    const ordered = [
      "1.0.0-1",
      "1.0.0--a", // a numeric identifier is older than any alphanumeric one, even one that sorts before digits
      "1.0.0-10a", // alphanumeric identifiers compare as text: "10a" < "2a"
      "1.0.0-2a",
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-alpha.beta",
      "1.0.0-beta.20",
      "1.0.0-beta.100", // numeric identifiers compare as numbers
      "1.0.0-rc1",
      "1.0.0-rc2",
      "1.0.0",
      "1.0.1",
      "1.1.0",
      "2.0.0",
    ];
    for (let index = 1; index < ordered.length; index += 1) {
      const older = ordered[index - 1] ?? "";
      const newer = ordered[index] ?? "";
      assert.ok(order(older, newer) < 0, `${older} < ${newer}`);
      assert.ok(order(newer, older) > 0, `${newer} > ${older}`);
    }
    for (const version of ordered) assert.equal(order(version, version), 0, version);
  });

  test(`a version of exactly ${MAX_VERSION_LENGTH} characters is read; one more is not`, () => {
    const longest = `1.0.0-${"a".repeat(MAX_VERSION_LENGTH - 6)}`;
    assert.equal(longest.length, MAX_VERSION_LENGTH);
    assert.ok(parseVersion(longest));
    assert.equal(parseVersion(`${longest}a`), undefined);
  });
});

describe("versions: decisions that do not depend on Consul's order", () => {
  const cases: { compatible: Compatibility; versions: (string | undefined)[]; newest: string; oldest: string }[] = [
    { compatible: "minor", versions: ["1.1.0", "1.0.3", "1.2.0"], newest: "1.2.x", oldest: "1.0.x" },
    { compatible: "major", versions: ["2.1.0", "1.4.0"], newest: "2.x", oldest: "1.x" },
    { compatible: "exact", versions: ["1.0.2", "1.0.10", "1.0.1"], newest: "1.0.10", oldest: "1.0.1" },
    { compatible: "minor", versions: ["1.0.0", undefined], newest: "1.0.x", oldest: "unversioned" },
    { compatible: "minor", versions: [undefined, "1.0.0"], newest: "1.0.x", oldest: "unversioned" },
  ];
  for (const { compatible, versions, newest, oldest } of cases) {
    test(`first meeting, compatible ${compatible}, [${versions.map(String).join(", ")}]: newest ${newest}, oldest ${oldest}`, () => {
      const endpoints = versions.map((version, index) => node(`n${index}`, version, 20000 + index));
      assert.equal(decide(endpoints, [], { compatible, prefer: "newest" }).serving, newest);
      assert.equal(decide(endpoints, [], { compatible, prefer: "oldest" }).serving, oldest);
    });
  }

  test("several generations with traffic and canaries on: the oldest is read as serving, whatever the slot order", () => {
    const newer = node("new", "1.1.0", 20001);
    const older = node("old", "1.0.0", 20002);
    const decision = decide([newer, older], [slot(1, newer), slot(2, older)], { canaryPercent: 10 });
    assert.equal(decision.previous, "1.0.x");
    assert.equal(decision.serving, "1.0.x");
    assert.equal(decision.canary, "1.1.x");
  });
});

describe("versions: canary choice, promotion, reasons and the summary", () => {
  test("the canary is the newest healthy generation newer than the serving one, never the serving one itself", () => {
    const serving = node("s", "1.1.0", 20001);
    const newer = [node("c1", "1.2.0", 20002), node("c2", "1.3.0", 20003)];
    const decision = decide([serving, ...newer], [slot(1, serving)], { canaryPercent: 10 });
    assert.equal(decision.serving, "1.1.x");
    assert.equal(decision.canary, "1.3.x");
    // The serving generation is the newest: no canary, even with an older healthy one.
    const alone = decide([serving, node("o", "1.0.0", 20004)], [slot(1, serving)], { canaryPercent: 10 });
    assert.equal(alone.serving, "1.1.x");
    assert.equal("canary" in alone, false);
  });

  test("the summary lists every generation, newest first, with its role, instances and healthy count", () => {
    const endpoints = [node("a", "1.0.0", 20001), node("b", "1.0.1", 20002), node("c", "1.1.0", 20003), node("d", "0.9.0", 20004, "critical")];
    const decision = decide(endpoints, [slot(1, endpoints[0]!), slot(2, endpoints[1]!)], { canaryPercent: 10 });
    assert.deepEqual(decision.generations, [
      { generation: "1.1.x", role: "canary", instances: 1, healthy: 1 },
      { generation: "1.0.x", role: "serving", instances: 2, healthy: 2 },
      { generation: "0.9.x", role: "waiting", instances: 1, healthy: 0 },
    ]);
    assert.deepEqual(decision.members.get("c"), { generation: "1.1.x", role: "canary" });
  });

  test("promoted: recorded only while in force", () => {
    const endpoints = [node("a", "1.0.0", 20001), node("b", "1.1.0", 20002)];
    const inForce = decide(endpoints, [slot(1, endpoints[0]!)], {}, [], "1.1.0");
    assert.equal(inForce.serving, "1.1.x");
    assert.equal(inForce.promoted, "1.1.0");
    const notHealthy = decide([endpoints[0]!, node("b", "1.1.0", 20002, "critical")], [slot(1, endpoints[0]!)], {}, [], "1.1.0");
    assert.equal(notHealthy.serving, "1.0.x");
    assert.equal("promoted" in notHealthy, false);
    assert.equal("switchReason" in notHealthy, false, "nothing switched");
  });

  test("the reason logged on a switch names what happened", () => {
    const old = node("old", "1.0.0", 20001, "critical");
    const oldToo = node("old2", "1.0.1", 20003, "maintenance");
    const next = node("new", "1.1.0", 20002);
    const lost = decide([old, oldToo, next], [slot(1, old), slot(2, oldToo), slot(3, next, "ready", 0)]);
    assert.equal(lost.switchReason, "serving generation 1.0.x has no healthy instance left (1 critical, 1 maintenance); prefer newest");
    // Another service's backend with traffic is not this service's business.
    const other = node("x", "5.0.0", 20009, "passing", "other");
    const first = decide([next, other], [slot(1, other, "ready", 1, "other_be")], {}, [backend("other_be", "other")]);
    assert.equal(first.switchReason, "no generation served yet; prefer newest");
    assert.deepEqual(first.generations.map((generation) => generation.generation), ["1.1.x"], "only this service's instances form generations");
    const gone = decide([next], [slot(1, old)]);
    assert.equal(gone.switchReason, "the serving generation has no instance left in Consul; prefer newest");
  });

  test("nothing healthy: HAProxy's serving generation stays; with none, prefer picks; no instance at all: none, and no reason", () => {
    const old = node("old", "1.0.0", 20001, "critical");
    const next = node("new", "1.1.0", 20002, "critical");
    const kept = decide([old, next], [slot(1, old)]);
    assert.equal(kept.serving, "1.0.x");
    assert.equal("switchReason" in kept, false);
    const picked = decide([old, next]);
    assert.equal(picked.serving, "1.1.x");
    assert.equal("switchReason" in picked, false);
    const empty = decide([]);
    assert.equal(empty.serving, undefined);
    assert.deepEqual(empty.generations, []);
  });
});

describe("versions: canary weights", () => {
  test("exact results at the edges of HAProxy's 1..256 (the finest step that fits)", () => {
    const cases: [number[], number[], number, { serving: number[]; canary: number[] }][] = [
      [[1], [1], 50, { serving: [256], canary: [256] }],
      [[0, 1], [0, 1], 1, { serving: [0, 256], canary: [0, 3] }],
      [[1, 1], [0, 1], 50, { serving: [128, 128], canary: [0, 256] }],
      [[0, 1], [0, 3], 1, { serving: [0, 256], canary: [0, 3] }],
      [[0, 1], [1, 1], 1, { serving: [0, 256], canary: [1, 1] }],
      [[0, 1], [50, 1], 1, { serving: [0, 1], canary: [1, 1] }],
      [[0, 5], [0, 1], 1, { serving: [0, 255], canary: [0, 3] }],
      [[0], [1], 10, { serving: [0], canary: [0] }],
      [[1], [0], 10, { serving: [1], canary: [0] }],
    ];
    for (const [serving, canary, percent, expected] of cases) {
      assert.deepEqual(canaryWeights(serving, canary, percent, 256), expected, `${JSON.stringify(serving)} ${JSON.stringify(canary)} ${percent}%`);
    }
  });

  test("only instances in rotation count towards the shares; a canary out of rotation gets 0", () => {
    const server = (id: string, state: AdminState): WeightedServer => ({ endpoint: node(id, undefined, 0), state, weight: 1 });
    const servers = [server("s1", "ready"), server("s2", "drain"), server("c1", "ready"), server("c2", "drain")];
    const decision: VersionDecision = {
      serviceName: "iri",
      generations: [],
      members: new Map([
        ["s1", { generation: "1.0.x", role: "serving" }],
        ["s2", { generation: "1.0.x", role: "serving" }],
        ["c1", { generation: "1.1.x", role: "canary" }],
        ["c2", { generation: "1.1.x", role: "canary" }],
      ]),
    };
    applyVersionWeights(servers, decision, 50, 256);
    assert.deepEqual(
      servers.map((entry) => `${entry.endpoint.serviceId}=${entry.weight}`),
      ["s1=256", "s2=1", "c1=256", "c2=0"],
    );
  });
});

// Two mutants of what counts as "taking traffic" survived (a slot in drain
// with a weight; a slot whose node no longer serves that backend): each
// changes which generation serves for the reconcile that sees that slot.
describe("versions: what takes traffic, for the serving generation", () => {
  test("a slot in drain (or maint) with a weight is not taking traffic: the generation that serves keeps serving", () => {
    const old = node("old", "1.4.2", 1);
    const newer = node("newer", "1.5.0", 2);
    for (const adminState of ["drain", "maint"] as const) {
      // 1.5 is healthy and newer, but only drained: were it counted as taking
      // traffic, two generations would take traffic and prefer newest would pick 1.5.
      const decision = decide([old, newer], [slot(1, old), slot(2, newer, adminState, 1)]);
      assert.equal(decision.serving, "1.4.x", adminState);
      assert.equal(decision.previous, "1.4.x", adminState);
      assert.equal(decision.switchReason, undefined, adminState);
    }
    // The control: the same slot ready with its weight does take traffic.
    const mixed = decide([old, newer], [slot(1, old), slot(2, newer, "ready", 1)]);
    assert.equal(mixed.previous, undefined);
    assert.equal(mixed.serving, "1.5.x");
  });

  test("a slot whose node no longer serves that backend (pow turned off) is not taking traffic there", () => {
    const powBackend: BackendPolicy = { ...backend("pow_be"), role: "pow" };
    const old = node("old", "1.4.2", 1);
    // 1.5 serves the default backend only (pow=false), waiting there with
    // weight 0, but its PoW slot still has its address from before.
    const newer = node("newer", "1.5.0", 2);
    const slots = [slot(1, old), slot(2, newer, "ready", 0), slot(1, newer, "ready", 1, "pow_be")];
    const decision = decide([old, newer], slots, {}, [powBackend]);
    assert.equal(decision.previous, "1.4.x");
    assert.equal(decision.serving, "1.4.x");
    // The control: with pow on, that PoW slot is 1.5 taking traffic.
    const powOn = { ...newer, settings: { ...newer.settings, pow: "true" as const } };
    const control = decide([old, powOn], slots, {}, [powBackend]);
    assert.equal(control.previous, undefined);
    assert.equal(control.serving, "1.5.x");
  });
});

// Written for a survivor of the mutation run of 2026-12-06 (docs/mutation-survivors.md, "a test gap").
describe("canaryWeights: no canary weight", () => {
  test("no canary, or only canaries at weight 0 (all draining or in maintenance): the serving weights stay as they are", () => {
    assert.deepEqual(canaryWeights([1, 1], [], 10, 256), { serving: [1, 1], canary: [] });
    assert.deepEqual(canaryWeights([1, 2], [0, 0], 10, 256), { serving: [1, 2], canary: [0, 0] });
  });
});
