// A real Consul and HAProxy with the fault proxy between the handler and
// Consul, four nodes serving, and `run` started against it.
import { after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { startNode, type TestNode } from "../../harness/backends.js";
import { startCli, type RunningCli } from "../../harness/cli.js";
import { startFaultProxy, type FaultProxy } from "../../harness/fault-proxy.js";
import { eventually, logLines, startStack, ttlRegistration, type Stack } from "../handler/stack.js";

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

export interface FaultStack {
  stack: Stack;
  proxy: FaultProxy;
  nodes: TestNode[];
  cli: RunningCli;
  listen: string;
  /** `backend/slot address status` of every used slot, to prove nothing changed. */
  serving(): Promise<string[]>;
  metric(name: string): Promise<number | undefined>;
  healthz(): Promise<{ status: number; text: string }>;
}

export async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  cleanups.push(() => started.stop());
  return started;
}

/** When the mass-removal guard first saw the removal it holds in this backend (ms), from its state file beside the lock file. */
export function holdSince(stack: Stack, backend: string): number {
  const lockFile = `${stack.configFile.replace(/config\.yml$/, "")}handler.lock`;
  const memory = JSON.parse(readFileSync(`${lockFile}.mass-removal.json`, "utf8")) as Record<string, { since?: unknown }>;
  const since = memory[backend]?.since;
  assert.equal(typeof since, "number", `the guard's state file holds ${backend}'s first-seen time: ${JSON.stringify(memory)}`);
  return since as number;
}

/** The time (ms) of the first log line with all these fields. */
export function loggedAt(stderr: string, fields: Record<string, string>): number {
  const line = logLines(stderr).find((candidate) => Object.entries(fields).every(([key, value]) => candidate[key] === value));
  assert.ok(line, `no log line ${JSON.stringify(fields)}`);
  const at = Date.parse(String(line["timestamp"]));
  assert.ok(Number.isFinite(at), `the log line has a timestamp: ${JSON.stringify(line)}`);
  return at;
}

/** Rewrites the stack's handler config with these changes. */
export function patchConfig(stack: Stack, change: (config: Record<string, unknown>) => void): void {
  const config = parse(readFileSync(stack.configFile, "utf8")) as Record<string, unknown>;
  change(config);
  writeFileSync(stack.configFile, stringify(config));
}

export async function startRun(stack: Stack): Promise<{ cli: RunningCli; listen: string }> {
  const cli = startCli(["--config", stack.configFile, "run"]);
  cleanups.push(() => cli.stop("SIGKILL"));
  const logs = await eventually(() => Promise.resolve(cli.logs()), (text) => /"message":"listening"/.test(text), "the listener to start", 30_000);
  const listen = /"message":"listening"[^\n]*"address":"(127\.0\.0\.1:\d+)"|"address":"(127\.0\.0\.1:\d+)"[^\n]*"message":"listening"/.exec(logs);
  const address = listen?.[1] ?? listen?.[2];
  assert.ok(address, `no listening address in the logs: ${logs}`);
  return { cli, listen: address };
}

/**
 * Four nodes serving in main_back through `run`, Consul reached through the
 * fault proxy. Short blocking waits so a stalled read is abandoned in ~3 s.
 */
export async function startFaultStack(options: { nodes?: number; policy?: Record<string, unknown> } = {}): Promise<FaultStack> {
  const stack = await startStack({ slots: 12 });
  const proxy = await startFaultProxy(stack.consul.address);
  cleanups.push(() => proxy.close());
  patchConfig(stack, (config) => {
    config["consul"] = { address: proxy.address, timeoutMs: 1000, blockingWaitSeconds: 2 };
    config["run"] = { listen: "127.0.0.1:0", resyncSeconds: 3600 };
    config["policy"] = { ...(config["policy"] as Record<string, unknown>), ...options.policy };
  });
  const nodes: TestNode[] = [];
  for (let index = 0; index < (options.nodes ?? 4); index += 1) {
    const started = await node(`n${index}`);
    nodes.push(started);
    await stack.consul.register(ttlRegistration(`n${index}`, started.port));
  }
  const { cli, listen } = await startRun(stack);
  const serving = async (): Promise<string[]> =>
    (await stack.servers("main_back"))
      .filter((row) => row.status !== "MAINT")
      .map((row) => `${row.svname} ${row["addr"]} ${row.status}`)
      .sort();
  await eventually(serving, (rows) => rows.length === nodes.length && rows.every((row) => row.endsWith(" UP")), "every node UP through run", 30_000);
  return {
    stack,
    proxy,
    nodes,
    cli,
    listen,
    serving,
    async metric(name) {
      const text = await (await fetch(`http://${listen}/metrics`)).text();
      const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    },
    async healthz() {
      const response = await fetch(`http://${listen}/healthz`);
      return { status: response.status, text: await response.text() };
    },
  };
}
