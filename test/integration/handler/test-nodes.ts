// Test nodes for the reconcile tests (stopped after the file's tests), and a sync that must succeed.
import { after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import type { Stack } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

/** A test node, stopped when the file's tests are done. */
export async function node(name: string, options: Parameters<typeof startNode>[1] = {}): Promise<TestNode> {
  const started = await startNode(name, options);
  nodes.push(started);
  return started;
}

/** One sync that must succeed (exit 0). */
export async function syncOk(stack: Stack): Promise<void> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
}
