import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HandlerMetrics } from "../../../handler/metrics/handler-metrics.js";
import { OutcomeRecorder } from "../../../handler/metrics/outcome-recorder.js";
import type { ReconcileOutcome } from "../../../handler/reconcile/reconcile.js";
import type { Plan, VersionDecision } from "../../../handler/planner/model.js";
import type { HeldRemoval } from "../../../handler/planner/mass-removal.js";
import { ConsulUntrusted } from "../../../handler/source/consul-source.js";

function outcome(covered: { backends: string[]; services: string[] }, plan: Partial<Plan> = {}, held: HeldRemoval[] = []): ReconcileOutcome {
  return {
    plan: { steps: [], leftOut: [], draining: 0, usage: [], versions: [], ...plan },
    commands: [],
    endpoints: 0,
    rejected: [],
    durationMs: 1,
    held,
    released: [],
    covered,
  };
}

const decision = (serviceName: string, serving: string, switched = false): VersionDecision => ({ serviceName, serving, generations: [], members: new Map(), ...(switched ? { previous: "0.9.x", switchReason: "promoted" } : {}) });
const hold = (backend: string, leaving: number): HeldRemoval => ({ backend, servingBefore: 10, leaving, joining: 0, slots: [], since: 0, releasesAt: Date.now() + 60_000 });

describe("outcome recorder", () => {
  test("a reconcile of one service replaces only its backends' and its versions' figures", async () => {
    const metrics = new HandlerMetrics();
    const recorder = new OutcomeRecorder(metrics, ["a_back", "b_back"]);
    const all = { backends: ["a_back", "b_back"], services: ["a", "b"] };
    recorder.succeeded(
      outcome(all, {
        usage: [
          { backend: "a_back", total: 10, used: 3, free: 7 },
          { backend: "b_back", total: 10, used: 5, free: 5 },
        ],
        leftOut: [{ backend: "b_back", serviceId: "x", reason: "no slot" }],
        versions: [decision("a", "1.0.x"), decision("b", "2.x")],
      }),
      0.01,
      undefined,
    );
    recorder.succeeded(outcome({ backends: ["a_back"], services: ["a"] }, { usage: [{ backend: "a_back", total: 10, used: 4, free: 6 }], versions: [decision("a", "1.1.x", true)] }), 0.001, 0.002);
    const text = await metrics.registry.render();
    assert.match(text, /^consul_haproxy_handler_slots\{backend="a_back",use="used"\} 4$/m);
    assert.match(text, /^consul_haproxy_handler_slots\{backend="b_back",use="used"\} 5$/m, "b's figures stay");
    assert.match(text, /^consul_haproxy_handler_nodes_left_out 1$/m, "b's node left out is still counted");
    assert.match(text, /^consul_haproxy_handler_serving_version\{service="a",version="1\.1\.x"\} 1$/m);
    assert.doesNotMatch(text, /version="1\.0\.x"/, "a's old generation's series is gone");
    assert.match(text, /^consul_haproxy_handler_serving_version\{service="b",version="2\.x"\} 1$/m);
    assert.match(text, /^consul_haproxy_handler_version_switches_total\{service="a"\} 1$/m);
    assert.deepEqual(recorder.health(undefined), { healthy: true, reason: "ok" });
    assert.equal(metrics.reconciles.get({ result: "left-out" }), 1, "the reconcile that left b's node out is counted as such, as sync exits 3");
    assert.equal(metrics.reconciles.get({ result: "ok" }), 1);
  });

  test("holds are kept per backend: a later reconcile of another service does not lift them from /healthz", async () => {
    const metrics = new HandlerMetrics();
    const recorder = new OutcomeRecorder(metrics, ["a_back", "b_back"]);
    recorder.succeeded(outcome({ backends: ["a_back"], services: ["a"] }, {}, [hold("a_back", 6)]), 0.01, undefined);
    recorder.succeeded(outcome({ backends: ["b_back"], services: ["b"] }), 0.01, undefined);
    assert.equal(recorder.health(undefined).healthy, false);
    assert.match(recorder.health(undefined).reason, /mass removal held in a_back/);
    assert.match(await metrics.registry.render(), /^consul_haproxy_handler_mass_removal_held\{backend="a_back"\} 6$/m);
    recorder.succeeded(outcome({ backends: ["a_back"], services: ["a"] }), 0.01, undefined);
    assert.deepEqual(recorder.health(undefined), { healthy: true, reason: "ok" });
  });

  test("health: Consul in doubt first, then a failed or skipped reconcile", () => {
    const metrics = new HandlerMetrics();
    const recorder = new OutcomeRecorder(metrics, ["a_back"]);
    assert.deepEqual(recorder.health(undefined), { healthy: false, reason: "no reconcile yet" });
    recorder.failed(new ConsulUntrusted("no-leader", "KV: no leader"));
    assert.equal(metrics.failures.get({ cause: "consul-no-leader" }), 1);
    assert.deepEqual(recorder.health(undefined), { healthy: false, reason: "KV: no leader" });
    recorder.succeeded(outcome({ backends: ["a_back"], services: ["a"] }), 0.01, undefined);
    assert.deepEqual(recorder.health("timeout"), { healthy: false, reason: "Consul not trusted: timeout" });
    recorder.skipped("waiting for the first Consul answer");
    assert.equal(metrics.reconciles.get({ result: "skipped" }), 1);
    assert.equal(recorder.health(undefined).reason, "waiting for the first Consul answer");
  });
});
