// The slot reader's name and row rules: written for mutants that survived
// (docs/mutation-testing.md).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { slotNumber, slotsFromRuntime } from "../../../handler/haproxy-state/slots.js";
import type { ServerStateRow, StatRow } from "../../../handler/haproxy-runtime-api/index.js";


function state(backendName: string, serverName: string, address: string, changes: Partial<ServerStateRow> = {}): ServerStateRow {
  return {
    backendId: 2,
    backendName,
    serverId: 1,
    serverName,
    address,
    operationalState: 2,
    adminState: 4,
    userWeight: 1,
    initialWeight: 1,
    secondsSinceLastChange: 9,
    checkStatus: 0,
    checkResult: 0,
    checkHealth: 0,
    checkState: 14,
    agentState: 0,
    port: 8080,
    useSsl: false,
    checkPort: 0,
    ...changes,
  };
}

function stat(pxname: string, svname: string, status: string): StatRow {
  return { pxname, svname, status, slim: "", scur: "0", lastchg: "3" };
}
describe("slots: names", () => {
  test("slotNumber: the prefix, then a number without leading zeros, and nothing else", () => {
    assert.equal(slotNumber("srv12", "srv"), 12);
    assert.equal(slotNumber("srv1", "srv"), 1);
    for (const [name, prefix] of [["srv01", "srv"], ["srv1x", "srv"], ["srvx", "srv"], ["xyz1", "srv"], ["tlsnv1", "tls"], ["srv", "srv"], ["srv12345678", "srv"]]) {
      assert.equal(slotNumber(name ?? "", prefix ?? ""), undefined, `${name} with prefix ${prefix}`);
    }
  });

  test("only managed backends and prefixes; the longer prefix wins; an address of '-', '' or '::' is none", () => {
    const states = [
      state("stats", "srv1", "10.0.0.1"),
      state("be", "tlsnv1", "10.0.0.2"),
      state("be", "tls1", "-"),
      state("be", "srv1", ""),
      state("be", "srv2", "::"),
      state("be", "static", "10.0.0.9"),
    ];
    const stats = [stat("be", "tlsnv1", "UP"), stat("be", "tls1", "MAINT"), stat("be", "srv1", "MAINT"), stat("be", "srv2", "MAINT")];
    const slots = slotsFromRuntime(states, stats, new Map([["be", ["tls", "tlsnv", "srv"]]]));
    assert.deepEqual(
      slots.map((slot) => [slot.name, slot.prefix, slot.number, slot.address ?? null, slot.status]),
      [
        ["tlsnv1", "tlsnv", 1, "10.0.0.2", "UP"],
        ["tls1", "tls", 1, null, "MAINT"],
        ["srv1", "srv", 1, null, "MAINT"],
        ["srv2", "srv", 2, null, "MAINT"],
      ],
    );
  });

  test("a server missing from show stat (added between the two reads) reads with defaults", () => {
    const [slot] = slotsFromRuntime([state("be", "srv7", "10.0.0.7")], [], new Map([["be", ["srv"]]]));
    assert.ok(slot);
    assert.deepEqual([slot.status, slot.maxconn, slot.sessions, slot.secondsSinceChange], ["", 0, 0, 9]);
  });
});
