// The promoted versions (Consul KV) are read at every reconcile of a service
// with versioning. Their read goes through the same HTTP client as the health
// reads: an answer cut short or never coming fails the reconcile at once with
// its cause (fail static: HAProxy left as it is), never after a long wait.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startFaultProxy, type FaultMode } from "../../harness/fault-proxy.js";
import { hasLog, startStack } from "../handler/stack.js";
import { register, syncOk, upSlots, versioned, versionNode } from "../handler/versions-lib.js";
import { patchConfig } from "./fault-stack.js";

const proxies: { close(): Promise<void> }[] = [];
after(async () => {
  for (const proxy of proxies) await proxy.close();
});

interface PromotionFault {
  mode: FaultMode;
  reason: string;
  /** consul.timeoutMs for the run: a cut-short answer must fail long before it. */
  timeoutMs: number;
}

const faults: PromotionFault[] = [
  // The consul npm client waited for the request timeout here, then said "unreachable".
  { mode: "truncated", reason: "truncated", timeoutMs: 60_000 },
  { mode: "stall", reason: "timeout", timeoutMs: 1500 },
];

describe("the promoted versions' KV read cut short or stalled", () => {
  for (const fault of faults) {
    test(`${fault.mode}: sync fails fast with reason ${fault.reason}, HAProxy left as it is`, async () => {
      const stack = await startStack({ handler: versioned() });
      const proxy = await startFaultProxy(stack.consul.address);
      proxies.push(proxy);
      const a = await versionNode(`${fault.mode}-a`, "1.0.1");
      await register(stack, a, "1.0.1");
      await syncOk(stack);
      await upSlots(stack, [a.port]);
      const promoted = await stack.cli(["promote", "iri", "1.0.1"]);
      assert.equal(promoted.code, 0, promoted.stderr);

      patchConfig(stack, (config) => {
        config["consul"] = { ...(config["consul"] as Record<string, unknown>), address: proxy.address, timeoutMs: fault.timeoutMs };
      });
      // A change the sync would apply if it trusted what it read.
      const b = await versionNode(`${fault.mode}-b`, "1.0.2");
      await register(stack, b, "1.0.2");
      const before = (await stack.servers("main_back")).map((row) => `${row.svname} ${row["addr"]} ${row.status} ${row.weight}`);

      proxy.reads = "promotions";
      proxy.mode = fault.mode;
      const started = Date.now();
      const result = await stack.sync();
      const tookMs = Date.now() - started;
      assert.ok(proxy.served(fault.mode) >= 1, "the fault was served to the promotion read");
      assert.notEqual(result.code, 0, "a sync that cannot read the promotions fails");
      assert.ok(hasLog(result.stderr, { message: /not trusted; HAProxy left as it is/, reason: fault.reason }), result.stderr);
      // Process start included; the old client took the whole timeoutMs (60 s) for a cut-short answer.
      assert.ok(tookMs < 20_000, `the sync took ${tookMs} ms`);
      const afterSync = (await stack.servers("main_back")).map((row) => `${row.svname} ${row["addr"]} ${row.status} ${row.weight}`);
      assert.deepEqual(afterSync, before, "no slot changed");
      assert.ok(!afterSync.some((row) => row.includes(`:${b.port} `)), "the new node was not put in a slot");

      proxy.mode = "pass";
      await syncOk(stack);
      await upSlots(stack, [b.port]);
    });
  }
});
