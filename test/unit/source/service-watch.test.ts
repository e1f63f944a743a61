import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, nextIndex, ServiceWatch, type ServiceReader, type WatchClock } from "../../../handler/source/service-watch.js";
import { ConsulUntrusted, type ReadOptions, type ServiceSnapshot } from "../../../handler/source/consul-source.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";
import { createLogger } from "../../../handler/log.js";

const logger = createLogger("error");

function entry(id: string, address: string, meta: Record<string, string> = {}): ConsulHealthEntry {
  return {
    Node: { Node: id, Address: address, Meta: {} },
    Service: { ID: id, Service: "iri", Address: address, Port: 14265, Tags: [], Meta: meta },
    Checks: [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

function snapshot(index: number, entries: ConsulHealthEntry[]): ServiceSnapshot {
  return { service: "iri", key: "iri", entries, malformed: [], index };
}

/** Consul as a script: each read takes the next answer; with none left it blocks until aborted. */
class ScriptedConsul implements ServiceReader {
  readonly reads: ReadOptions[] = [];
  /** Each blocking read's wait (undefined: not blocking). */
  readonly waits: (number | undefined)[] = [];
  confirmations = 0;
  /** True once every answer is used and a read waits. */
  blocked = false;
  constructor(
    private readonly answers: (ServiceSnapshot | Error)[],
    private readonly emptyIsFiltered = false,
  ) {}
  readService(_selection: unknown, options: ReadOptions): Promise<ServiceSnapshot> {
    this.reads.push({ ...(options.index === undefined ? {} : { index: options.index }) });
    this.waits.push(options.waitSeconds);
    const next = this.answers.shift();
    if (next === undefined) {
      this.blocked = true;
      return new Promise((_resolve, reject) => options.signal?.addEventListener("abort", () => reject(new Error("aborted"))));
    }
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  }
  confirmEmptyAnswer(): Promise<void> {
    this.confirmations += 1;
    return this.emptyIsFiltered ? Promise.reject(new ConsulUntrusted("acl-filtered", "empty answer not confirmed")) : Promise.resolve();
  }
}

/** No real time passes: every sleep is recorded and returns at once. */
function fakeClock(): WatchClock & { slept: number[] } {
  let tick = 0n;
  const slept: number[] = [];
  return { slept, sleep: (ms) => (slept.push(ms), Promise.resolve()), random: () => 1, now: () => (tick += 1n) };
}

async function watchUntilBlocked(consul: ScriptedConsul, clock: WatchClock) {
  const changes: string[] = [];
  const failures: string[] = [];
  const watch = new ServiceWatch({ name: "iri" }, consul, logger, 30, { changed: (key) => changes.push(key), failed: (_key, cause) => failures.push(cause) }, clock);
  const abort = new AbortController();
  const running = watch.run(abort.signal);
  // Every scripted answer is consumed once the watch waits on a blocking read that never answers.
  for (let turn = 0; turn < 1000 && !consul.blocked; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  abort.abort();
  await running;
  return { watch, changes, failures };
}

describe("service watch", () => {
  test("after an empty answer the next read waits a second, not the whole blocking wait; after a full one, the whole wait again", async () => {
    const consul = new ScriptedConsul([snapshot(7, [entry("a", "10.0.0.1")]), snapshot(8, []), snapshot(8, [entry("a", "10.0.0.1")])]);
    await watchUntilBlocked(consul, fakeClock());
    assert.equal(consul.confirmations, 1, "the empty answer was confirmed");
    assert.deepEqual(consul.waits, [undefined, 30, 1, 30], "the read after the empty answer waits 1 s; the ones after full answers the configured 30 s");
    assert.deepEqual(consul.reads, [{}, { index: 7 }, { index: 8 }, { index: 8 }]);
  });

  test("a trusted answer becomes validated endpoints; the next read blocks on its index; the same index is no change", async () => {
    const consul = new ScriptedConsul([snapshot(7, [entry("a", "10.0.0.1"), entry("bad", "10.0.0.2", { haproxy_weight: "300" })]), snapshot(7, [entry("a", "10.0.0.1")])]);
    const { watch, changes, failures } = await watchUntilBlocked(consul, fakeClock());
    assert.deepEqual(changes, ["iri"], "the second answer with the same index is not a change");
    assert.deepEqual(failures, []);
    assert.deepEqual(consul.reads, [{}, { index: 7 }, { index: 7 }]);
    assert.deepEqual(watch.desired?.endpoints.map((endpoint) => [endpoint.serviceId, endpoint.serviceName]), [["a", "iri"]]);
    assert.deepEqual(watch.desired?.rejected.map((rejection) => [rejection.serviceId, rejection.key, rejection.service]), [["bad", "weight", "iri"]]);
    assert.equal(watch.problem, undefined);
    assert.notEqual(watch.takeChangedAt(), undefined);
    assert.equal(watch.takeChangedAt(), undefined, "taken once");
  });

  test("fail static: an untrusted answer keeps the endpoints, backs off on the clock, and the next trusted answer is a change", async () => {
    const clock = fakeClock();
    const consul = new ScriptedConsul([snapshot(5, [entry("a", "10.0.0.1")]), new ConsulUntrusted("no-leader", "no leader"), new Error("socket hang up"), snapshot(5, [entry("a", "10.0.0.1")])]);
    const { watch, changes, failures } = await watchUntilBlocked(consul, clock);
    assert.deepEqual(failures, ["consul-no-leader", "consul-error"]);
    assert.deepEqual(clock.slept, [200, 400], "backoff doubles (random() = 1: the whole ceiling)");
    assert.deepEqual(consul.reads, [{}, { index: 5 }, {}, {}, { index: 5 }], "after a failure the index starts over");
    assert.deepEqual(changes, ["iri", "iri"], "the answer after the doubt triggers although the index is the same");
    assert.deepEqual(watch.desired?.endpoints.map((endpoint) => endpoint.serviceId), ["a"]);
    assert.equal(watch.problem, undefined);
  });

  test("an empty answer counts only once Consul confirms it; a refused confirmation is a doubt, not an empty service", async () => {
    const consul = new ScriptedConsul([snapshot(3, [entry("a", "10.0.0.1")]), snapshot(4, [])], true);
    const { watch, changes, failures } = await watchUntilBlocked(consul, fakeClock());
    assert.equal(consul.confirmations, 1);
    assert.deepEqual(changes, ["iri"]);
    assert.deepEqual(failures, ["consul-acl-filtered"]);
    assert.deepEqual(watch.desired?.endpoints.map((endpoint) => endpoint.serviceId), ["a"], "the endpoints before the doubt stay");
    assert.equal(watch.problem, "empty answer not confirmed");
    watch.refresh(snapshot(9, []));
    assert.equal(watch.desired?.endpoints.length, 1, "a resync answer is ignored while in doubt");
  });

  test("Consul index rules: never below 1, backwards resets", () => {
    assert.equal(nextIndex(0, 15), 15);
    assert.equal(nextIndex(15, 15), 15);
    assert.equal(nextIndex(15, 20), 20);
    assert.equal(nextIndex(20, 7), 0);
    assert.equal(nextIndex(20, 0), 0);
    assert.equal(nextIndex(20, Number.NaN), 0);
  });

  test("backoff grows, is jittered and capped", () => {
    assert.equal(backoffDelay(1, () => 0), 100);
    assert.equal(backoffDelay(1, () => 1), 200);
    assert.equal(backoffDelay(3, () => 1), 800);
    assert.equal(backoffDelay(50, () => 1), 1_000, "capped at 1 s: Consul is probed every second while down");
    assert.equal(backoffDelay(50, () => 0), 500);
    assert.equal(backoffDelay(50, () => 1, 30_000), 30_000);
  });
});
