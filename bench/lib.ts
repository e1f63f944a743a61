// Shared pieces of the benchmarks: real Consul and HAProxy on loopback in the
// playbook's shape, the handler as a child process, one percentile, a cheap
// poll of one slot's own row over one admin-socket connection, the CPU and
// memory of a process from /proc, and the figures table.
//
// The benchmarks talk to HAProxy through their own small client (below), not
// the handler's: what they observe must not depend on the code they measure.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { cpus, totalmem } from "node:os";
import { startConsul, type ConsulAgent } from "../test/harness/consul.js";
import { startHaproxy, type HaproxyInstance } from "../test/harness/haproxy.js";
import { freePort } from "../test/harness/ports.js";
import { cliCommand, repositoryRoot, startCli, writeHandlerConfig, type RunningCli } from "../test/harness/cli.js";

export { startConsul, startHaproxy, freePort, startCli, writeHandlerConfig, cliCommand, repositoryRoot };
export type { ConsulAgent, HaproxyInstance, RunningCli };

export function machine(): string {
  return `${cpus().length} cores, ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/**
 * The one percentile every benchmark uses: nearest rank (the smallest value
 * with at least `fraction` of the values at or below it). p50 of 4 values is
 * the 2nd smallest; p99 of fewer than 100 values is the maximum.
 */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

export function summary(label: string, millis: readonly number[]): string {
  if (millis.length === 0) return `${label}: no samples`;
  return `${label}: n=${millis.length} p50=${ms(percentile(millis, 0.5))} ms p99=${ms(percentile(millis, 0.99))} ms max=${ms(Math.max(...millis))} ms`;
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

/** Polls `check` every `intervalMs` until it holds; throws with `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!(await check())) {
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------
// The figures table: every benchmark reports its figures here as well as
// printing them; run-all prints the table at the end.

export interface Figure {
  figure: string;
  /** The HAProxy shape (and instance count) it was measured on. */
  shape: string;
  target: string;
  measured: string;
  /** undefined: no target (a reference figure). */
  met?: boolean;
}

export const figures: Figure[] = [];

export function report(figure: Figure): void {
  figures.push(figure);
  const verdict = figure.met === undefined ? "" : figure.met ? " [met]" : " [MISSED]";
  console.log(`  => ${figure.figure} ${figure.shape}: ${figure.measured} (target ${figure.target})${verdict}`);
}

// ---------------------------------------------------------------------------
// A minimal admin-socket client: one connection in prompt mode, one command
// at a time. Polling one slot's row (`show stat <backend> 4 <sid>`) costs
// HAProxy and this process a few microseconds, whatever the backend's size.

export class AdminSocket {
  private socket: Socket | undefined;
  private buffer = "";
  private pending: { resolve: (output: string) => void; reject: (error: Error) => void } | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly port: number,
    private readonly host = "127.0.0.1",
  ) {}

  /** One command's output (the prompt stripped). Commands are sent one at a time. */
  query(command: string): Promise<string> {
    const result = this.chain.then(() => this.send(command));
    this.chain = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = connect(this.port, this.host);
    socket.setNoDelay(true);
    socket.setEncoding("utf8");
    socket.on("error", () => undefined); // 'close' follows and rejects what waits
    socket.on("close", () => {
      if (this.socket === socket) this.socket = undefined;
      this.pending?.reject(new Error(`HAProxy's admin socket ${this.host}:${this.port} closed the connection`));
      this.pending = undefined;
    });
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      if (this.pending && this.buffer.endsWith("\n> ")) {
        const output = this.buffer.slice(0, -3);
        this.buffer = "";
        const { resolve } = this.pending;
        this.pending = undefined;
        resolve(output);
      }
    });
    await once(socket, "connect");
    this.socket = socket;
    this.buffer = "";
    await this.exchange(socket, "prompt");
    return socket;
  }

  private exchange(socket: Socket, command: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.pending = { resolve, reject };
      socket.write(`${command}\n`);
    });
  }

  private async send(command: string): Promise<string> {
    return this.exchange(await this.open(), command);
  }
}

/** `show stat` CSV rows as name -> value, by the header line. */
export function statRows(output: string): Record<string, string>[] {
  const lines = output.split("\n").filter((line) => line.trim() !== "");
  const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
  return lines.slice(1).map((line) => {
    const values = line.split(",");
    return Object.fromEntries(header.map((name, index) => [name, values[index] ?? ""]));
  });
}

export interface ServerState {
  backend: string;
  id: number;
  name: string;
  address: string;
  port: number;
  adminBits: number;
  userWeight: number;
}

/** `show servers state <backend>` rows (no maxconn in it; see statRows). */
export function serverStates(output: string): ServerState[] {
  return output
    .split("\n")
    .filter((line) => /^\d+ /.test(line))
    .map((line) => {
      const field = line.split(" ");
      return { backend: field[1] ?? "", id: Number(field[2]), name: field[3] ?? "", address: field[4] ?? "", adminBits: Number(field[6]), userWeight: Number(field[7]), port: Number(field[18]) };
    });
}

/** HAProxy's forced, inherited and resolution MAINT bits (SRV_ADMF_FMAINT|IMAINT|RMAINT). */
export function inMaint(state: ServerState): boolean {
  return (state.adminBits & 0x23) !== 0;
}

/**
 * Polls one slot's own row every 1 ms (Node's timer resolution, so a figure
 * is late by about 1 ms at most) until `done` holds; returns the time of the
 * reply that showed it. Back-to-back polling would be finer but would take a
 * core from the handler and HAProxy on a 2-core machine.
 */
export async function untilRow(admin: AdminSocket, backend: string, slotId: number, done: (row: Record<string, string>) => boolean, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  const command = `show stat ${backend} 4 ${slotId}`;
  for (;;) {
    const [row] = statRows(await admin.query(command));
    const at = now();
    if (row && done(row)) return at;
    if (at > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${backend} slot ${slotId}; its row: ${row ? `${row["addr"]} ${row["status"]}` : "(none)"}`);
    await sleep(1);
  }
}

/**
 * Polls a whole backend every `intervalMs` until `done` holds (for HAProxy's
 * own changes, whose slot is not known beforehand, and for "every slot").
 */
export async function untilBackend<Row>(admin: AdminSocket, command: string, parse: (output: string) => Row[], done: (rows: Row[]) => boolean, timeoutMs: number, intervalMs = 1): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const rows = parse(await admin.query(command));
    const at = now();
    if (done(rows)) return at;
    if (at > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting on '${command}'`);
    if (intervalMs > 0) await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------
// The HAProxy shape. `shipped` is what the playbook installs (roles/haproxy
// templates/backends.cfg.j2): per service a default and a PoW backend, `check`
// on every slot with the role's check timings, hold-down on (a filled slot is
// held DOWN until HAProxy's own check passes). `easy` is one backend per
// service without checks, the cheapest case for HAProxy.

export type Shape = "easy" | "shipped";

/** The role's defaults: haproxy_check_inter 5s, fastinter 1s, downinter 10s, rise 2, fall 3. */
export const SHIPPED_CHECK_TIMINGS = "inter 5s fastinter 1s downinter 10s rise 2 fall 3";

export interface HandlerStackOptions {
  slots: number;
  /** Slots of each PoW backend in the shipped shape (default: `slots`; the playbook's default is 50). */
  powSlots?: number;
  shape: Shape;
  /** Check timings for the shipped shape (default: the playbook's). */
  checkTimings?: string;
  /** Services (each with its backend; in the shipped shape also a PoW backend). */
  services?: number;
  drainSeconds?: number;
  resyncSeconds?: number;
  /** host:port for the handler's /metrics. */
  listen?: string;
}

export interface HandlerStack {
  consul: ConsulAgent;
  haproxy: HaproxyInstance;
  admin: AdminSocket;
  adminPort: number;
  configFile: string;
  frontendPort: number;
  /** The default backend of each service (be1..beN); the PoW backends are powbe1..powbeN. */
  backendNames: string[];
  /** What every benchmark prints with its figures. */
  shape: string;
  /** Writes another handler config for the same stack (e.g. another resync period). */
  handlerConfig(overrides: Partial<Pick<HandlerStackOptions, "resyncSeconds" | "listen" | "drainSeconds">>): string;
  stop(): Promise<void>;
}

export function describeShape(options: HandlerStackOptions): string {
  const services = options.services ?? 1;
  if (options.shape === "easy") return `[easy: ${services} backend${services > 1 ? "s" : ""} x ${options.slots} slots, no checks, no hold-down]`;
  const slots = options.powSlots === undefined || options.powSlots === options.slots ? `${services * 2} backends (default + PoW per service) x ${options.slots} slots` : `${services} default backends x ${options.slots} slots + ${services} PoW backends x ${options.powSlots} slots`;
  return `[shipped: ${slots}, check on every slot (${options.checkTimings ?? SHIPPED_CHECK_TIMINGS}), hold-down on]`;
}

/** Consul + HAProxy in the given shape, with services svc1..svcN. */
export async function startHandlerStack(options: HandlerStackOptions): Promise<HandlerStack> {
  const consul = await startConsul();
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const count = options.services ?? 1;
  const shipped = options.shape === "shipped";
  const backendNames = Array.from({ length: count }, (_, index) => `be${index + 1}`);
  const backend = (name: string, slots: number) =>
    shipped
      ? [
          `backend ${name}`,
          "    balance roundrobin",
          "    option httpchk GET /",
          "    http-check expect status 200",
          `    default-server ${options.checkTimings ?? SHIPPED_CHECK_TIMINGS}`,
          `    server-template srv 1-${slots} 0.0.0.0:80 check disabled init-addr none`,
        ]
      : [`backend ${name}`, "    balance roundrobin", `    server-template srv 1-${slots} 0.0.0.0:80 disabled init-addr none`];
  const config = [
    "global",
    `    stats socket ipv4@127.0.0.1:${adminPort} level admin`,
    "    stats timeout 10m",
    // HAProxy reserves a socket per checked server beside 2 per connection;
    // this machine's hard limit is 20,000 descriptors.
    "    maxconn 2000",
    "defaults",
    "    mode http",
    "    timeout connect 2s",
    "    timeout client 30s",
    "    timeout server 30s",
    "    timeout check 2s",
    "frontend front",
    `    bind 127.0.0.1:${frontendPort}`,
    "    default_backend be1",
    ...backendNames.flatMap((name) => [...backend(name, options.slots), ...(shipped ? backend(`pow${name}`, options.powSlots ?? options.slots) : [])]),
  ].join("\n");
  const haproxy = await startHaproxy({ config: `${config}\n`, adminPort });
  const handlerConfig = (overrides: Partial<Pick<HandlerStackOptions, "resyncSeconds" | "listen" | "drainSeconds">>) =>
    writeHandlerConfig({
      consul: { address: consul.address },
      haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 30_000, holdDownUntilChecked: shipped },
      policy: { drainSeconds: overrides.drainSeconds ?? options.drainSeconds ?? 30 },
      log: { level: "warn" },
      run: { resyncSeconds: overrides.resyncSeconds ?? options.resyncSeconds ?? 3600, ...((overrides.listen ?? options.listen) ? { listen: overrides.listen ?? options.listen } : {}) },
      services: backendNames.map((name, index) => ({ name: `svc${index + 1}`, backend: name, slotPrefix: "srv", ...(shipped ? { powBackend: `pow${name}` } : {}) })),
    });
  const shape = describeShape(options);
  const admin = new AdminSocket(adminPort);
  return {
    consul,
    haproxy,
    admin,
    adminPort,
    configFile: handlerConfig({}),
    frontendPort,
    backendNames,
    shape,
    handlerConfig,
    async stop() {
      admin.close();
      await haproxy.stop();
      await consul.cleanup();
    },
  };
}

/**
 * Catalog registrations (external nodes, no checks: passing) of `count`
 * instances, 32 per Consul transaction (a node and its service are two of a
 * transaction's 64 operations), 4 transactions at a time.
 */
export async function registerInstances(consul: ConsulAgent, count: number, instance: (index: number) => { node: string; address: string; service: string; id: string; port: number; meta?: Record<string, string> }): Promise<void> {
  const batches = Array.from({ length: Math.ceil(count / 32) }, (_, batch) => Array.from({ length: Math.min(32, count - batch * 32) }, (_, offset) => batch * 32 + offset));
  await inBatches(batches, 4, async (indexes) => {
    const operations = indexes.flatMap((index) => {
      const { node, address, service, id, port, meta } = instance(index);
      return [{ Node: { Verb: "set", Node: { Node: node, Address: address } } }, { Service: { Verb: "set", Node: node, Service: { ID: id, Service: service, Port: port, ...(meta ? { Meta: meta } : {}) } } }];
    });
    const response = await consul.api("PUT", "/v1/txn", operations);
    if (response.status !== 200) throw new Error(`catalog registration (transaction of ${indexes.length}) failed: ${response.status} ${JSON.stringify(response.json).slice(0, 500)}`);
  });
}

/** Runs `work` over `items` with at most `limit` in flight. */
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

/** The first slot (1-based id) of a backend that is free: in MAINT, without an address. */
export async function lowestFreeSlot(admin: AdminSocket, backend: string): Promise<number> {
  const free = serverStates(await admin.query(`show servers state ${backend}`)).filter((state) => inMaint(state) && (state.address === "0.0.0.0" || state.address === "-"));
  const lowest = free.reduce((lowestId, state) => Math.min(lowestId, state.id), Number.POSITIVE_INFINITY);
  if (!Number.isFinite(lowest)) throw new Error(`no free slot in ${backend}`);
  return lowest;
}

// ---------------------------------------------------------------------------
// Processes: CPU and memory from /proc, child processes, backends.

/** utime + stime of a process, in ms (the kernel counts in ticks of 10 ms). */
export function cpuMillis(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export function rssMegabytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;
}

/** The private part of a process's RSS (RssAnon: V8's heap and native allocations, not the binary's shared file pages), in MB. */
export function privateMegabytes(pid: number): number {
  return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;
}

/** A counter of the handler's /metrics, summed over its labels. */
export async function metricTotal(listen: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${listen}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`consul_haproxy_handler_${name}`))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** A node's HTTP endpoint on 127.0.0.1 that answers 200 (HAProxy's check passes). */
export async function startNodeListener(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => response.writeHead(200, { "content-type": "text/plain" }).end("ok\n"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** wrk's summary: requests, non-2xx answers, socket errors. */
export interface WrkFigures {
  requests: number;
  non2xx: number;
  socketErrors: string;
  raw: string;
}

/**
 * wrk's summary. A run without one (wrk missing, failed, killed, printed
 * nothing) or with no request at all is an error, never "0 errors".
 */
export function parseWrk(output: string, exitCode: number | null = 0): WrkFigures {
  const requestsMatch = /(\d+) requests in /.exec(output);
  if (exitCode !== 0 || !requestsMatch || !/Requests\/sec:/.test(output)) {
    throw new Error(`wrk did not finish with a summary (exit ${exitCode}); its output: ${output.slice(-500) || "(none)"}`);
  }
  const requests = Number(requestsMatch[1]);
  if (requests === 0) throw new Error(`wrk sent no request at all: ${output.slice(-500)}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1] ?? "none";
  return { requests, non2xx, socketErrors, raw: output };
}

/** Starts wrk; resolves with its exit code (null when it could not start or was killed). */
export function startWrk(args: string[]): { output: () => string; done: Promise<number | null>; stop(): void } {
  const wrk = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  wrk.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  wrk.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<number | null>((resolve) => {
    wrk.once("error", (error) => {
      output += `\n${error.message}`;
      resolve(null);
    });
    // 'close', not 'exit': the summary may still be in the pipe when the process exits.
    wrk.once("close", (code) => resolve(code));
  });
  return { output: () => output, done, stop: () => void wrk.kill("SIGINT") };
}
