// What the soak counts as HAProxy equal to Consul, as an empty backend and as growth.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerStateRow, StatRow } from "../../../handler/haproxy-runtime-api/index.js";
import { actualInRotation, backendsWithoutUpServer, byMinute, difference, expectedInRotation, growth, type HealthEntry, type Layout } from "../../soak/invariants.js";

const layout: Layout = { defaultBackend: "be", powBackend: "pow", slotPrefix: "s", defaults: { weight: 1, maxconn: 0 }, powDefaults: { weight: 1, maxconn: 2 } };

function entry(port: number, meta: Record<string, string>, statuses: string[] = ["passing"]): HealthEntry {
  return { Service: { ID: `n${port}`, Address: "127.0.0.1", Port: port, Meta: meta }, Node: { Address: "10.0.0.1" }, Checks: statuses.map((Status) => ({ Status })) };
}

function state(backendName: string, serverName: string, port: number, adminState = 0, userWeight = 1): ServerStateRow {
  return { backendId: 1, backendName, serverId: 1, serverName, address: "127.0.0.1", operationalState: 2, adminState, userWeight, initialWeight: 1, secondsSinceLastChange: 0, checkStatus: 0, checkResult: 0, checkHealth: 0, checkState: 0, agentState: 0, port, useSsl: false, checkPort: 0 };
}

function stat(pxname: string, svname: string, status: string, slim = ""): StatRow {
  return { pxname, svname, status, slim } as StatRow;
}

describe("soak invariants", () => {
  test("Consul's answer: pow places a node, Meta sets weight and maxconn, a critical check takes it out, a warning does not", () => {
    const expected = expectedInRotation(
      [entry(1, {}), entry(2, { haproxy_pow: "true", haproxy_weight: "5", haproxy_maxconn: "9" }), entry(3, { haproxy_pow: "only", haproxy_pow_maxconn: "4" }), entry(4, {}, ["passing", "critical"]), entry(5, {}, ["warning"])],
      layout,
    );
    assert.deepEqual(expected, [
      "be 127.0.0.1:1 weight=1 maxconn=0",
      "be 127.0.0.1:2 weight=5 maxconn=9",
      "be 127.0.0.1:5 weight=1 maxconn=0",
      "pow 127.0.0.1:2 weight=5 maxconn=2",
      "pow 127.0.0.1:3 weight=1 maxconn=4",
    ]);
  });

  test("HAProxy's slots: only ready slots of our prefix count (0x04, disabled in the configuration, is ready once enabled); maxconn from show stat", () => {
    const actual = actualInRotation(
      [state("be", "s1", 1, 4), state("be", "s2", 2, 1), state("be", "s3", 3, 8), state("be", "s5", 5, 0x20), state("be", "s6", 6, 0x10), state("be", "other1", 4), state("pow", "s1", 2, 0, 5), state("elsewhere", "s1", 9)],
      [stat("pow", "s1", "UP", "2")],
      layout,
    );
    assert.deepEqual(actual, ["be 127.0.0.1:1 weight=1 maxconn=0", "pow 127.0.0.1:2 weight=5 maxconn=2"]);
  });

  test("difference names what each side has alone, duplicates counted", () => {
    assert.deepEqual(difference(["a", "b", "b"], ["b", "c"]), ["+ c", "- a", "- b"]);
    assert.deepEqual(difference(["a"], ["a"]), []);
  });

  test("a backend without an UP server", () => {
    const rows = [stat("be", "s1", "UP 1/3"), stat("pow", "s1", "DOWN"), stat("pow", "BACKEND", "UP"), stat("pow", "x1", "UP")];
    assert.deepEqual(backendsWithoutUpServer(rows, ["be", "pow"], "s"), ["pow"]);
  });

  test("growth is judged on a long enough life, after the warm-up", () => {
    const life = (rss: (minute: number) => number, fds: (minute: number) => number, heap: (minute: number) => number | undefined = () => 12e6) =>
      Array.from({ length: 40 }, (_, minute) => ({ at: minute * 60_000, rssKb: rss(minute) + 40_000, privateKb: rss(minute), descriptors: fds(minute), heapUsedBytes: heap(minute) }));
    const limits = { warmUpMs: 10 * 60_000, minSpanMs: 15 * 60_000, maxPrivateGrowth: 0.1, maxRetainedHeapGrowth: 0.1, maxDescriptorGrowth: 5 };
    assert.equal(growth(life(() => 100_000, () => 30), limits).growing, undefined);
    assert.match(growth(life((minute) => 100_000 + minute * 2_000, () => 30), limits).growing ?? "", /private resident memory grew/);
    assert.match(growth(life(() => 100_000, (minute) => 30 + minute), limits).growing ?? "", /descriptors grew/);
    // File pages (the node binary's code paged in) growing while the private part stays: not growth.
    const codePagedIn = life(() => 30_000, () => 30).map((sample, minute) => ({ ...sample, rssKb: 60_000 + minute * 500 }));
    const verdict = growth(codePagedIn, limits);
    assert.equal(verdict.growing, undefined);
    assert.ok(verdict.rssGrowth > 0.1, `RSS growth is still reported: ${verdict.rssGrowth}`);
    // A huge first minute (the warm-up) is not growth.
    assert.equal(growth(life((minute) => (minute === 0 ? 10_000 : 100_000), () => 30), limits).growing, undefined);
    // What a handler did in the soak of 2026-12-07: up 40 % over minutes 5-8 (V8 sizing its heap), level after.
    assert.equal(growth(life((minute) => (minute < 5 ? 21_000 : minute < 8 ? 21_000 + (minute - 4) * 2_000 : 29_000), () => 26), limits).growing, undefined);
    // The same warm-up and then a slow leak (1 % a minute) is still growth.
    assert.match(growth(life((minute) => (minute < 8 ? 21_000 : 29_000 * (1 + (minute - 8) / 100)), () => 26), limits).growing ?? "", /private resident memory grew/);
    assert.equal(growth(life((minute) => 100_000 + minute * 2_000, () => 30).slice(0, 8), limits).judged, false);
  });

  test("the retained heap is judged by its low-water mark, not by garbage waiting for collection", () => {
    const life = (heap: (minute: number) => number | undefined) =>
      Array.from({ length: 40 }, (_, minute) => ({ at: minute * 60_000, rssKb: 100_000, privateKb: 60_000, descriptors: 30, heapUsedBytes: heap(minute) }));
    const limits = { warmUpMs: 10 * 60_000, minSpanMs: 15 * 60_000, maxPrivateGrowth: 0.1, maxRetainedHeapGrowth: 0.1, maxDescriptorGrowth: 5 };
    // A sawtooth between 12 and 30 MB (allocation, then a collection) is not growth.
    const sawtooth = growth(life((minute) => (minute % 3 === 0 ? 12e6 : 30e6)), limits);
    assert.equal(sawtooth.growing, undefined);
    assert.equal(sawtooth.retainedHeapGrowth, 0);
    // A low-water mark that climbs 0.5 MB a minute is a leak.
    const leak = growth(life((minute) => (minute % 3 === 0 ? 12e6 + minute * 0.5e6 : 40e6)), limits);
    assert.match(leak.growing ?? "", /survives garbage collection grew/);
    // No heap figures (the handler's /metrics did not answer): not judged as growth.
    assert.equal(growth(life(() => undefined), limits).retainedHeapGrowth, 0);
  });

  test("byMinute: the median of each minute's samples", () => {
    const samples = [0, 20_000, 40_000, 61_000, 119_000].map((at, index) => ({ at, rssKb: [5, 1, 3, 10, 20][index] ?? 0, privateKb: 1, descriptors: 1, heapUsedBytes: index === 1 ? undefined : 7 }));
    assert.deepEqual(byMinute(samples, (sample) => sample.rssKb), [3, 10]);
    assert.deepEqual(byMinute(samples, (sample) => sample.heapUsedBytes), [7, 7]);
  });
});
