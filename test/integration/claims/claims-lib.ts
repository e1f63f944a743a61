// What the claims tests share: nodes and processes stopped when the file
// ends, a sync that must succeed, and which slots hold a node.
import { after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import type { Stack } from "../handler/stack.js";

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** Runs when the test file ends, last registered first. */
export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

export async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  onCleanup(() => started.stop());
  return started;
}

export async function syncOk(stack: Stack): Promise<void> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
}

/** `backend/slot addr status` of every slot holding a node (an address other than 0.0.0.0), sorted. */
export async function held(stack: Stack, backends: readonly string[] = ["main_back"]): Promise<string[]> {
  const rows = (await Promise.all(backends.map((backend) => stack.servers(backend)))).flat();
  return rows
    .filter((row) => !(row["addr"] ?? "0.0.0.0").startsWith("0.0.0.0"))
    .map((row) => `${row.pxname}/${row.svname} ${row["addr"] ?? ""} ${row.status ?? ""}`)
    .sort();
}
