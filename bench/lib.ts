// Shared pieces of the benchmarks: real Consul and HAProxy on loopback, the
// handler as a child process, percentiles, and a tight poll of `show stat`
// over one admin-socket connection.
import { spawn, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { startConsul, type ConsulAgent } from "../test/harness/consul.js";
import { startHaproxy, type HaproxyInstance } from "../test/harness/haproxy.js";
import { freePort } from "../test/harness/ports.js";
import { cliCommand, repositoryRoot, startCli, writeHandlerConfig, type RunningCli } from "../test/harness/cli.js";
import { commands, parseShowServersState, parseShowStat, RuntimeApiClient, type RuntimeCommand, type ServerStateRow, type StatRow } from "../handler/haproxy-runtime-api/index.js";
import { adminStateFromBits } from "../handler/haproxy-state/slots.js";

export { startConsul, startHaproxy, freePort, startCli, writeHandlerConfig, cliCommand, repositoryRoot };
export type { ConsulAgent, HaproxyInstance, RunningCli, StatRow, ServerStateRow };

export function machine(): string {
  return `${cpus().length} cores, ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}`;
}

/**
 * The one percentile every benchmark uses: nearest rank (the smallest value
 * with at least `fraction` of the values at or below it). p50 of 4 values is
 * the 2nd smallest.
 */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function summary(label: string, millis: readonly number[]): string {
  const format = (value: number) => (value < 10 ? value.toFixed(2) : value.toFixed(1));
  return `${label}: n=${millis.length} p50=${format(percentile(millis, 0.5))} ms p99=${format(percentile(millis, 0.99))} ms max=${format(Math.max(...millis))} ms`;
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Polls HAProxy back to back on one connection until `done` holds. The poll
 * itself loads HAProxy (and this 2-core machine), so latency runs poll the
 * cheaper `show servers state`; `until` (show stat) is for HAProxy's own
 * check results (UP/DOWN).
 */
export class StatPoller {
  constructor(private readonly client: RuntimeApiClient) {}

  /** Polls `show servers state <backend>` (admin state and address). */
  untilState(backend: string, done: (rows: ServerStateRow[]) => boolean, timeoutMs = 30_000): Promise<number> {
    return this.poll(commands.showServersState(backend), parseShowServersState, done, timeoutMs);
  }

  /** Polls `show stat <backend>` (HAProxy's own check results: UP, DOWN). */
  until(backend: string, done: (rows: StatRow[]) => boolean, timeoutMs = 30_000): Promise<number> {
    return this.poll(commands.showStat(backend), (output) => parseShowStat(output), done, timeoutMs);
  }

  private async poll<Row>(command: RuntimeCommand, parse: (output: string) => Row[], done: (rows: Row[]) => boolean, timeoutMs: number): Promise<number> {
    const started = now();
    return this.client.session(async (session) => {
      for (;;) {
        const [reply] = await session.execute([command]);
        if (reply?.ok && done(parse(reply.output))) return now();
        if (now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for '${command.text}'`);
      }
    });
  }
}

/** A server at ip:port that is in rotation: admin state ready (not maint, not drain). */
export function inRotation(rows: readonly ServerStateRow[], address: string): boolean {
  return rows.some((row) => `${row.address}:${row.port}` === address && adminStateFromBits(row.adminState) === "ready");
}

/**
 * The HAProxy shape a benchmark runs on. `shipped` is what the playbook
 * installs: per service a default and a PoW backend, `check` on every slot,
 * hold-down on (a filled slot waits for HAProxy's own check). `easy` is one
 * backend per service, no checks: the cheapest case for HAProxy.
 */
export type Shape = "easy" | "shipped";

export interface HandlerStackOptions {
  slots: number;
  shape: Shape;
  /** Check keywords for the shipped shape (default: the playbook's `check inter 5s rise 2 fall 3`). */
  checkKeywords?: string;
  /** Services (each with its backend; in the shipped shape also a PoW backend). */
  services?: number;
  drainSeconds?: number;
}

export interface HandlerStack {
  consul: ConsulAgent;
  haproxy: HaproxyInstance;
  admin: RuntimeApiClient;
  configFile: string;
  frontendPort: number;
  /** The default backend of each service (be1..beN); the PoW backends are powbe1..powbeN. */
  backendNames: string[];
  /** What every benchmark prints with its figures. */
  shape: string;
  stop(): Promise<void>;
}

export function describeShape(options: HandlerStackOptions): string {
  const services = options.services ?? 1;
  const checks = options.shape === "shipped" ? `check on every slot (${options.checkKeywords ?? SHIPPED_CHECKS})` : "no checks";
  const backends = options.shape === "shipped" ? `${services * 2} backends (default + PoW per service)` : `${services} backend${services > 1 ? "s" : ""}`;
  return `[${options.shape} shape: ${backends} x ${options.slots} slots, ${checks}, hold-down ${options.shape === "shipped" ? "on" : "off (no checks)"}]`;
}

const SHIPPED_CHECKS = "check inter 5s rise 2 fall 3";

/** Consul + HAProxy in the given shape, with services svc1..svcN. */
export async function startHandlerStack(options: HandlerStackOptions): Promise<HandlerStack> {
  const consul = await startConsul();
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const count = options.services ?? 1;
  const shipped = options.shape === "shipped";
  const backendNames = Array.from({ length: count }, (_, index) => `be${index + 1}`);
  const keywords = shipped ? (options.checkKeywords ?? SHIPPED_CHECKS) : "";
  const template = (name: string) => [`backend ${name}`, "    balance roundrobin", `    server-template srv 1-${options.slots} 0.0.0.0:80 ${keywords} disabled init-addr none`];
  const config = [
    "global",
    `    stats socket ipv4@127.0.0.1:${adminPort} level admin`,
    "    stats timeout 60s",
    "    maxconn 8000",
    "defaults",
    "    mode http",
    "    timeout connect 2s",
    "    timeout client 30s",
    "    timeout server 30s",
    "    timeout check 2s",
    "    option httpchk GET /health",
    "frontend front",
    `    bind 127.0.0.1:${frontendPort}`,
    "    default_backend be1",
    ...backendNames.flatMap((name) => [...template(name), ...(shipped ? template(`pow${name}`) : [])]),
  ].join("\n");
  const haproxy = await startHaproxy({ config: `${config}\n`, adminPort });
  const configFile = writeHandlerConfig({
    consul: { address: consul.address },
    haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 20_000, holdDownUntilChecked: shipped },
    policy: { drainSeconds: options.drainSeconds ?? 30 },
    log: { level: "warn" },
    run: { resyncSeconds: 3600 },
    services: backendNames.map((name, index) => ({ name: `svc${index + 1}`, backend: name, slotPrefix: "srv", ...(shipped ? { powBackend: `pow${name}` } : {}) })),
  });
  const shape = describeShape(options);
  console.log(`HAProxy shape: ${shape}`);
  return {
    consul,
    haproxy,
    admin: new RuntimeApiClient(`127.0.0.1:${adminPort}`, { timeoutMs: 20_000 }),
    configFile,
    frontendPort,
    backendNames,
    shape,
    async stop() {
      await haproxy.stop();
      await consul.cleanup();
    },
  };
}

/** Runs `promises` with at most `limit` in flight. */
export async function inBatches<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next;
        next += 1;
        await work(items[index] as T, index);
      }
    }),
  );
}

export function startProcess(command: string, args: string[]): ChildProcess {
  return spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
}

export async function waitForLog(cli: RunningCli, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const started = now();
  while (!pattern.test(cli.logs())) {
    if (now() - started > timeoutMs) throw new Error(`handler did not log ${String(pattern)}: ${cli.logs().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** wrk's summary: requests, non-2xx answers, socket errors. */
export interface WrkFigures {
  requests: number;
  non2xx: number;
  socketErrors: string;
  raw: string;
}

/** wrk's summary; a run without one (wrk failed, was killed, printed nothing) is an error, never "0 errors". */
export function parseWrk(output: string, exitCode: number | null = 0): WrkFigures {
  const requestsMatch = /(\d+) requests in /.exec(output);
  if (exitCode !== 0 || !requestsMatch || !/Requests\/sec:/.test(output)) {
    throw new Error(`wrk did not finish with a summary (exit ${exitCode}); its output: ${output.slice(-500) || "(none)"}`);
  }
  const requests = Number(requestsMatch[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1] ?? "none";
  return { requests, non2xx, socketErrors, raw: output };
}
