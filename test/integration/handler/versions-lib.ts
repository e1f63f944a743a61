// Shared by the versioning integration tests: HTTP nodes that answer with
// their version, registration with a version, a versioned handler config, and
// what answered through HAProxy.
import { after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import { eventually, ttlRegistration, type Stack } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

export async function versionNode(name: string, version: string): Promise<TestNode> {
  const started = await startNode(name, { version });
  nodes.push(started);
  return started;
}

export function register(stack: Stack, node: TestNode, version: string): Promise<void> {
  // A TTL check registered passing: Consul says healthy at once, HAProxy checks on its own.
  return stack.consul.register(ttlRegistration(node.name, node.port, { Meta: { haproxy_version: version } }));
}

export async function syncOk(stack: Stack): Promise<string> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
  return result.stderr;
}

export function versioned(canaryPercent = 0): (base: Record<string, unknown>) => Record<string, unknown> {
  return (base) => {
    const services = base["services"] as Record<string, unknown>[];
    return { ...base, services: services.map((service) => ({ ...service, versioning: { compatible: "minor", prefer: "newest", canaryPercent } })) };
  };
}

/** Versions that answered `count` requests through HAProxy, with how often. */
export async function versionsSeen(stack: Stack, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const { status, version } = await stack.request();
    const key = status === 200 ? (version ?? "none") : `HTTP ${status}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

export async function upSlots(stack: Stack, ports: number[]): Promise<void> {
  const wanted = ports.map((port) => `127.0.0.1:${port}`);
  await eventually(
    () => stack.servers("main_back"),
    (rows) => wanted.every((address) => rows.some((row) => row["addr"] === address && row.status === "UP")),
    `slots UP for ${wanted.join(", ")}`,
  );
}
