import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyOperation, SlotCache } from "../../../handler/haproxy-state/cache.js";
import type { SlotRecord } from "../../../handler/haproxy-state/slots.js";
import type { PlannerPolicy, PlanStep, Slot } from "../../../handler/planner/model.js";
import type { ApplyReport } from "../../../handler/applier/apply.js";
import { freeSlot } from "../slot-fixtures.js";

const policy: PlannerPolicy = { backends: [], warningAs: "ready", drainSeconds: 30, holdDownUntilChecked: true, maxWeight: 256 };

function slot(backend: string, name: string, changes: Partial<Slot> = {}): Slot {
  return freeSlot(backend, Number(name.slice(3)), "srv", changes);
}

function cacheOf(slots: Slot[], clock = () => 1_000_000): SlotCache {
  const cache = new SlotCache(policy, clock);
  cache.replaceAll(slots.map<SlotRecord>((each, index) => ({ slot: each, serverId: index + 1 })));
  return cache;
}

const fill: PlanStep = {
  backend: "be",
  server: "srv1",
  serviceId: "a",
  reason: "fill",
  prepare: [
    { kind: "set-addr", address: "10.0.0.1", port: 14265 },
    { kind: "set-weight", weight: 7 },
    { kind: "set-maxconn", maxconn: 20 },
  ],
  activate: [
    { kind: "set-state", state: "ready" },
    { kind: "set-health", health: "down" },
  ],
};

const applied = (steps: PlanStep[]): ApplyReport => ({ applied: steps, failures: [], commandsSent: 5 });

describe("HAProxy state cache", () => {
  test("accepted commands change the cached slot: address, weight, maxconn, state", () => {
    const cache = cacheOf([slot("be", "srv1"), slot("be", "srv2")]);
    cache.recordApplied(applied([fill]));
    const [first, second] = cache.slots();
    assert.deepEqual(
      { address: first?.address, port: first?.port, weight: first?.weight, maxconn: first?.maxconn, adminState: first?.adminState, secondsSinceChange: first?.secondsSinceChange },
      { address: "10.0.0.1", port: 14265, weight: 7, maxconn: 20, adminState: "ready", secondsSinceChange: 0 },
    );
    assert.equal(second?.address, undefined, "the other slot is untouched");
    assert.equal(cache.current, true, "the cache stays current: no read needed");
  });

  test("set-addr 0.0.0.0 forgets the address and port (what a full read shows for a freed slot)", () => {
    const held = slot("be", "srv1", { address: "10.0.0.1", port: 14265, adminState: "drain" });
    assert.equal(applyOperation(held, { kind: "set-state", state: "maint" }), true);
    assert.equal(applyOperation(held, { kind: "set-addr", address: "0.0.0.0", port: 14265 }), true);
    assert.equal(held.address, undefined);
    assert.equal(held.port, undefined);
    assert.equal(held.adminState, "maint");
  });

  test("enable-health turns checks on; set-health keeps nothing (HAProxy's status is not cached)", () => {
    const grown = slot("be", "srv3", { checksEnabled: false, status: "MAINT" });
    applyOperation(grown, { kind: "enable-health" });
    applyOperation(grown, { kind: "set-health", health: "down" });
    assert.equal(grown.checksEnabled, true);
    assert.equal(grown.status, "MAINT");
  });

  test("a refused command invalidates the whole cache: the next reconcile reads HAProxy in full", () => {
    const cache = cacheOf([slot("be", "srv1")]);
    cache.recordApplied({ applied: [], failures: [{ step: fill, command: "set server be/srv1 addr 10.0.0.1 port 14265", reply: "No such server." }], commandsSent: 3 });
    assert.equal(cache.current, false);
    assert.equal(cache.staleReason, "1 command(s) refused by HAProxy");
    assert.equal(cache.slots()[0]?.address, undefined, "nothing was guessed from a refused step");
  });

  test("a grown server (id unknown) or a slot the cache does not know: read in full", () => {
    const grow: PlanStep = { backend: "be", server: "srv9", reason: "grow", prepare: [{ kind: "add-server", address: "10.0.0.9", port: 1, keywords: ["check"] }], activate: [] };
    const cache = cacheOf([slot("be", "srv1")]);
    cache.recordApplied(applied([grow]));
    assert.equal(cache.current, false);
    const known = cacheOf([slot("be", "srv9")]);
    known.recordApplied(applied([grow]));
    assert.equal(known.current, false, "add-server: HAProxy's id of the new server is not known");
  });

  test("the change stamp: the first one seen is taken; one written by another process invalidates; our own does not", () => {
    const cache = cacheOf([slot("be", "srv1")]);
    cache.noticeStamp(undefined);
    assert.equal(cache.current, true);
    cache.ownStamp("ours\n");
    cache.noticeStamp("ours\n");
    assert.equal(cache.current, true);
    cache.noticeStamp("theirs\n");
    assert.equal(cache.current, false);
    assert.equal(cache.staleReason, "another handler process changed HAProxy");
  });

  test("slots of some backends only (a partial reconcile); invalidate keeps the first reason", () => {
    const cache = cacheOf([slot("a", "srv1"), slot("b", "srv1"), slot("a", "srv2")]);
    assert.deepEqual(
      cache.slots(new Set(["a"])).map((each) => `${each.backend}/${each.name}`),
      ["a/srv1", "a/srv2"],
    );
    assert.equal(cache.slots().length, 3);
    cache.invalidate("periodic resync");
    cache.invalidate("HAProxy reloaded or restarted");
    assert.equal(cache.staleReason, "periodic resync");
  });
});
