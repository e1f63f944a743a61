// Version-aware routing under traffic, against real Consul, HAProxy and HTTP
// nodes that answer with their version: the canary's share over 1,000
// requests, and a switch that loses no request under keep-alive load (wrk).
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { startNode, type TestNode } from "../../harness/backends.js";
import { eventually, startStack, ttlRegistration, type Stack } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

async function versionNode(name: string, version: string): Promise<TestNode> {
  const started = await startNode(name, { version });
  nodes.push(started);
  return started;
}

function register(stack: Stack, node: TestNode, version: string): Promise<void> {
  // A TTL check registered passing: Consul says healthy at once, HAProxy checks on its own.
  return stack.consul.register(ttlRegistration(node.name, node.port, { Meta: { haproxy_version: version } }));
}

async function syncOk(stack: Stack): Promise<string> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
  return result.stderr;
}

function versioned(canaryPercent = 0): (base: Record<string, unknown>) => Record<string, unknown> {
  return (base) => {
    const services = base["services"] as Record<string, unknown>[];
    return { ...base, services: services.map((service) => ({ ...service, versioning: { compatible: "minor", prefer: "newest", canaryPercent } })) };
  };
}

/** Versions that answered `count` requests through HAProxy, with how often. */
async function versionsSeen(stack: Stack, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const { status, version } = await stack.request();
    const key = status === 200 ? (version ?? "none") : `HTTP ${status}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

async function upSlots(stack: Stack, ports: number[]): Promise<void> {
  const wanted = ports.map((port) => `127.0.0.1:${port}`);
  await eventually(
    () => stack.servers("main_back"),
    (rows) => wanted.every((address) => rows.some((row) => row["addr"] === address && row.status === "UP")),
    `slots UP for ${wanted.join(", ")}`,
  );
}

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

    // Bounded: 2 connections, 6 seconds, loopback only.
    const load = new Promise<string>((resolve, reject) => {
      execFile("wrk", ["-t1", "-c2", "-d6s", `http://127.0.0.1:${stack.frontendPort}/`], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    await eventually(async () => old.hits, (hits) => hits > 200, "load reaching the serving generation");
    await stack.consul.deregister("wold");
    await syncOk(stack);
    const oldHits = old.hits;
    await eventually(async () => next.hits, (hits) => hits > 200, "load reaching the new generation after the switch");
    const report = await load;
    assert.match(report, /requests in/);
    assert.doesNotMatch(report, /Non-2xx or 3xx responses/, report);
    assert.doesNotMatch(report, /Socket errors/, report);
    assert.ok(oldHits > 0 && next.hits > 0);
  });
});
