// Load for the reload tests: sample nodes in processes of their own and wrk
// keep-alive load, stopped when the test has what it needs.
import { after } from "node:test";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repositoryRoot } from "./cli.js";
import { eventually } from "./eventually.js";
import { freePort } from "./ports.js";

const nodes: ChildProcess[] = [];
after(() => {
  for (const node of nodes) node.kill();
});

/**
 * A node in a process of its own (demo/sample-node.mjs): answering from the
 * test's own event loop would be slow enough that HAProxy's client
 * connections are never idle, and idle keep-alive connections are what a
 * reload can break.
 */
export async function startNodeProcess(name: string): Promise<{ address: string; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(repositoryRoot, "demo/sample-node.mjs"), name, String(port)], { stdio: "ignore" });
  nodes.push(child);
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`)).status, (status) => status === 200, `node ${name} answers`);
  return { address: "127.0.0.1", port };
}

export interface Wrk {
  /** Stops wrk (SIGINT: it prints its summary) and resolves with its output. */
  finish(): Promise<string>;
}

export function startWrk(port: number): Wrk {
  // Loopback only, keep-alive (wrk's default); bounded at 60 s, stopped earlier by finish().
  const wrk = spawn("wrk", ["-t1", "-c32", "-d60s", `http://127.0.0.1:${port}/`], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  wrk.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<string>((resolve) => wrk.once("exit", () => resolve(output)));
  return {
    finish() {
      wrk.kill("SIGINT");
      return exited;
    },
  };
}

/** One attempt of a load loop: when it began (ms on process.hrtime's clock), what it saw, or its error. */
export interface Attempt<T> {
  startedAt: number;
  seen?: T;
  error?: string;
}

/** Milliseconds on process.hrtime's clock (monotonic), as Attempt.startedAt counts them. */
export const hrNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/** `clients` loops of `attempt` (a new connection each, say), each recorded, until stop(). */
export function attemptLoops<T>(clients: number, attempt: () => Promise<T>): { done: Attempt<T>[]; stop(): Promise<void> } {
  const done: Attempt<T>[] = [];
  let stopping = false;
  const loops = Array.from({ length: clients }, async () => {
    while (!stopping) {
      const record: Attempt<T> = { startedAt: hrNow() };
      try {
        record.seen = await attempt();
      } catch (error) {
        record.error = String(error);
      }
      done.push(record);
    }
  });
  return {
    done,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
