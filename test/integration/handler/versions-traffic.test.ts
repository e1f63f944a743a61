// Version-aware routing under traffic, against real Consul, HAProxy and HTTP
// nodes that answer with their version: the canary's share over 1,000
// requests, and a switch that loses no request under keep-alive load (wrk).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { eventually, startStack } from "./stack.js";
import { versionNode, register, syncOk, versioned, versionsSeen, upSlots } from "./versions-lib.js";

describe("versioning under traffic", () => {
  test("canary: the newer generation gets canaryPercent of 1,000 requests, within a few percent", async () => {
    const stack = await startStack({ handler: versioned(10) });
    const a = await versionNode("ca", "1.0.1");
    const b = await versionNode("cb", "1.0.1");
    const canary = await versionNode("cc", "1.1.0");
    await register(stack, a, "1.0.1");
    await register(stack, b, "1.0.1");
    await syncOk(stack);
    await upSlots(stack, [a.port, b.port]);
    await register(stack, canary, "1.1.0");
    await syncOk(stack);
    await upSlots(stack, [canary.port]);
    const seen = await versionsSeen(stack, 1000);
    const share = ((seen.get("1.1.0") ?? 0) / 1000) * 100;
    assert.equal((seen.get("1.0.1") ?? 0) + (seen.get("1.1.0") ?? 0), 1000, `every request answered: ${JSON.stringify([...seen])}`);
    assert.ok(Math.abs(share - 10) <= 3, `canary share ${share}% (expected 10% +- 3)`);
    const status = await stack.cli(["status"]);
    assert.match(status.stdout, /serving 1\.0\.x, canary 1\.1\.x/);
  });

  test("the switch loses no request under keep-alive load (wrk)", async () => {
    const stack = await startStack({ handler: versioned() });
    const old = await versionNode("wold", "1.0.1");
    const next = await versionNode("wnew", "1.1.0");
    await register(stack, old, "1.0.1");
    await syncOk(stack);
    await upSlots(stack, [old.port]);
    await register(stack, next, "1.1.0");
    await syncOk(stack);
    await upSlots(stack, [next.port]);

    // 2 connections, loopback only, until the new generation has had its
    // share (SIGINT: wrk prints its summary); 60 s at most. A fixed short run
    // ended before that on a loaded machine.
    const wrk = spawn("wrk", ["-t1", "-c2", "-d60s", `http://127.0.0.1:${stack.frontendPort}/`], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    wrk.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const load = new Promise<string>((resolve) => wrk.once("exit", () => resolve(output)));
    await eventually(async () => old.hits, (hits) => hits > 200, "load reaching the serving generation");
    await stack.consul.deregister("wold");
    await syncOk(stack);
    const oldHits = old.hits;
    await eventually(async () => next.hits, (hits) => hits > 200, "load reaching the new generation after the switch", 30_000);
    wrk.kill("SIGINT");
    const report = await load;
    assert.match(report, /requests in/);
    assert.doesNotMatch(report, /Non-2xx or 3xx responses/, report);
    assert.doesNotMatch(report, /Socket errors/, report);
    assert.ok(oldHits > 0 && next.hits > 0);
  });
});
