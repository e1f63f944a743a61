// `make soak` (SEED=, MINUTES=): many faults together, for long, under load,
// against real processes on loopback:
//   - a three-server Consul cluster, the load balancer's client agent (the
//     handler reads through it, behind a fault proxy) and a second client
//     agent where most nodes register;
//   - HAProxy in master-worker mode with the playbook's shape (a default and a
//     PoW backend of server-template slots, `check` on every slot), its slots
//     file kept by the handler;
//   - the handler in `run`;
//   - 6 baseline nodes that are never faulted (each backend has nodes
//     registered through both agents) and 30 churn nodes;
//   - keep-alive load on both backends.
// A schedule drawn from the seed (schedule.ts) injects a fault every 1-3 s.
// Checked all along, printed with the seed and the faults in progress when
// one breaks (invariants.ts):
//   - every backend has an UP server, except while HAProxy restarts or is
//     frozen (the baseline nodes are always healthy);
//   - no request fails, except connection errors while HAProxy restarts;
//   - after each segment of faults, once every component is back, HAProxy's
//     slots equal what Consul says within the limit (2 s);
//   - the handler's resident memory and open descriptors do not grow.
// Exit status 1 when one broke. Needs root for the read-only slots directory
// (a bind mount; without root that fault is skipped and counted so).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { RuntimeApiClient } from "../../handler/haproxy-runtime-api/index.js";
import { cliCommand, repositoryRoot } from "../harness/cli.js";
import { startConsul, startConsulCluster, type ConsulAgent } from "../harness/consul.js";
import { startFaultProxy, type FaultMode } from "../harness/fault-proxy.js";
import { masterWorkerSections, startMasterWorker } from "../harness/haproxy-master.js";
import { freePorts } from "../harness/ports.js";
import { actualInRotation, backendsWithoutUpServer, byMinute, difference, expectedInRotation, growth, type HealthEntry, type Layout, type ProcessSample } from "./invariants.js";
import { describeFault, drawSchedule, FAULT_KINDS, lasts, prng, type Fault, type FaultKind } from "./schedule.js";

const { values: args } = parseArgs({
  options: {
    seed: { type: "string" },
    minutes: { type: "string", default: "3" },
    "churn-nodes": { type: "string", default: "30" },
    slots: { type: "string", default: "64" },
    "converge-limit-ms": { type: "string", default: "2000" },
  },
});
const seed = args.seed !== undefined && args.seed !== "" ? Number(args.seed) : Math.floor(Math.random() * 1_000_000);
const minutes = Number(args.minutes);
const churnCount = Number(args["churn-nodes"]);
const slots = Number(args.slots);
const convergeLimitMs = Number(args["converge-limit-ms"]);
for (const [name, value] of Object.entries({ seed, minutes, "churn-nodes": churnCount, slots, "converge-limit-ms": convergeLimitMs })) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number (got ${String(value)})`);
}

const SEGMENT_MS = 20_000;
/** The handler's Consul settings here: a blocking wait of 2 s, 1 s for the rest. */
const BLOCKING_WAIT_SECONDS = 2;
const CONSUL_TIMEOUT_MS = 1_000;
/**
 * A read that Consul (here the fault proxy) never answers is abandoned after
 * wait + wait/16 + timeoutMs (README, "Failure modes"): a read that began just
 * before a stall ended hangs that long after it. Convergence after a stall is
 * counted from then.
 */
const STALLED_READ_BOUND_MS = BLOCKING_WAIT_SECONDS * 1000 * (1 + 1 / 16) + CONSUL_TIMEOUT_MS;
/**
 * The fault proxy's empty answers carry an index 1,000 above Consul's (a
 * catalog that changed), which the real catalog has not reached when the
 * fault ends: the handler's next blocking read with that index waits out
 * its whole wait before Consul answers with its own, lower, index (in
 * production a refilled catalog's index is higher, and answers at once).
 */
const FABRICATED_INDEX_WAIT_MS = BLOCKING_WAIT_SECONDS * 1000 * (1 + 1 / 16);
/** How long the components may take to be back after a segment (Consul's anti-entropy: see settle()). */
const COMPONENTS_BACK_MS = 150_000;
const SERVICE = "iri";
const layout: Layout = {
  defaultBackend: "iri_back",
  powBackend: "iri_pow_back",
  slotPrefix: "irisrv",
  defaults: { weight: 1, maxconn: 0 },
  powDefaults: { weight: 1, maxconn: 2 },
};
const BACKENDS = [layout.defaultBackend, layout.powBackend];
const begun = Date.now();
const elapsed = (): string => `${((Date.now() - begun) / 1000).toFixed(1)} s`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text: string): void => console.log(`[${elapsed().padStart(8)}] ${text}`);

// ------------------------------------------------------------------ state
const inProgress = new Map<number, Fault>();
/** What each check at the end counts: a violation is of one kind, not read back from its text. */
type ViolationKind = "empty-backend" | "failed-request" | "convergence" | "admin-socket" | "growth" | "fault";
const violations: { kind: ViolationKind; text: string }[] = [];
const injected = new Map<FaultKind, number>(FAULT_KINDS.map((kind) => [kind, 0]));
const skippedFaults = new Map<FaultKind, number>();
/** While HAProxy restarts (no process listens for a moment) or is frozen: connection errors allowed, no UP server is not a violation. */
let haproxyAway = 0;
let haproxyAwayUntil = 0;
const haproxyIsAway = (): boolean => haproxyAway > 0 || Date.now() < haproxyAwayUntil;

let stoppedBy: NodeJS.Signals | undefined;
/** Every violation is kept for the checks at the end; the first 50 are printed as they happen. */
function violation(kind: ViolationKind, what: string): void {
  // Stopped by a signal: the cleanup takes HAProxy and Consul down under the load and the checks.
  if (stoppedBy !== undefined) return;
  const faults = [...inProgress.values()].map((fault) => describeFault(fault)).join(", ") || "none";
  const text = `VIOLATION at ${elapsed()} (seed ${seed}): ${what}; faults in progress: ${faults}`;
  violations.push({ kind, text });
  if (violations.length <= 50) console.log(text);
  else if (violations.length === 51) console.log("(further violations are counted, not printed)");
}

// ------------------------------------------------------------------ setup
const directory = mkdtempSync(join(tmpdir(), "chh-soak-"));
const cleanups: (() => unknown)[] = [];
async function cleanup(): Promise<void> {
  for (const each of cleanups.reverse()) await Promise.resolve(each()).catch(() => undefined);
  rmSync(directory, { recursive: true, force: true });
}

interface SoakNode {
  name: string;
  port: number;
  agent: ConsulAgent;
  meta: Record<string, string>;
  /** Baseline nodes get an HTTP check (it passes again on its own after their agent restarts); churn nodes a TTL check the soak flips. */
  baseline: boolean;
}

function registration(node: SoakNode): Record<string, unknown> {
  return {
    ID: node.name,
    Name: SERVICE,
    Address: "127.0.0.1",
    Port: node.port,
    Meta: node.meta,
    Check: node.baseline
      ? { CheckID: `check-${node.name}`, HTTP: `http://127.0.0.1:${node.port}/health`, Interval: "1s", Timeout: "1s" }
      : { CheckID: `ttl-${node.name}`, TTL: "24h", Status: "passing" },
  };
}

async function agentCall(agent: ConsulAgent, method: string, path: string, body?: unknown): Promise<void> {
  const response = await agent.api(method, path, body);
  if (response.status !== 200) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.json)}`);
}

/** The servers that answer, the leader first. */
async function liveServers(servers: readonly ConsulAgent[]): Promise<ConsulAgent[]> {
  const answers = await Promise.all(
    servers.map(async (server) => {
      try {
        const self = (await server.api("GET", "/v1/agent/self")).json as { Stats?: { consul?: { leader?: string } } };
        return { server, leader: self.Stats?.consul?.leader === "true" };
      } catch {
        return undefined;
      }
    }),
  );
  const live = answers.filter((answer): answer is { server: ConsulAgent; leader: boolean } => answer !== undefined);
  return live.sort((a, b) => Number(b.leader) - Number(a.leader)).map((answer) => answer.server);
}

/** Consul's health answer for the service, from a server with a leader, or undefined while there is none. */
async function consulTruth(servers: readonly ConsulAgent[]): Promise<HealthEntry[] | undefined> {
  for (const server of await liveServers(servers)) {
    try {
      const answer = await server.api("GET", `/v1/health/service/${SERVICE}`);
      if (answer.status === 200 && answer.headers.get("x-consul-knownleader") === "true" && Array.isArray(answer.json)) return answer.json as HealthEntry[];
    } catch {
      // the next server
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  say(`soak: seed ${seed}, ${minutes} min, ${churnCount} churn nodes, ${slots} slots per backend; replay: make soak SEED=${seed} MINUTES=${minutes}`);
  const servers = await startConsulCluster(3);
  cleanups.push(() => Promise.all(servers.map((server) => server.cleanup())));
  const lbAgent = await startConsul({ joins: servers });
  cleanups.push(() => lbAgent.cleanup());
  const nodesAgent = await startConsul({ joins: servers });
  cleanups.push(() => nodesAgent.cleanup());
  const proxy = await startFaultProxy(lbAgent.address);
  cleanups.push(() => proxy.close());
  say(`consul: 3 servers, the load balancer's agent ${lbAgent.address} (the handler reads it through ${proxy.address}), the nodes' agent ${nodesAgent.address}`);

  // Nodes: baseline b0-b5 (b0-b2 through the load balancer's agent), churn c0...
  const random = prng(seed ^ 0x5eed);
  const powOf = ["false", "true", "only"];
  const ports = await freePorts(6 + churnCount);
  const nodes: SoakNode[] = ports.map((port, index) => {
    const baseline = index < 6;
    const name = baseline ? `b${index}` : `c${index - 6}`;
    const meta: Record<string, string> = { haproxy_pow: baseline ? (powOf[index % 3] ?? "false") : (powOf[Math.floor(random() * 3)] ?? "false") };
    if (!baseline) {
      if (random() < 0.6) meta["haproxy_weight"] = String(1 + Math.floor(random() * 10));
      if (random() < 0.5) meta["haproxy_maxconn"] = String(Math.floor(random() * 50));
      if (random() < 0.3) meta["haproxy_pow_maxconn"] = String(1 + Math.floor(random() * 5));
    }
    return { name, port, agent: baseline && index < 3 ? lbAgent : nodesAgent, meta, baseline };
  });
  const nodeServer: ChildProcess = spawn(process.execPath, [join(repositoryRoot, "dist/test/soak/nodes.js"), ...nodes.map((node) => `${node.name}=${node.port}`)], { stdio: ["pipe", "ignore", "inherit"] });
  cleanups.push(() => void nodeServer.kill("SIGKILL"));
  const churn = nodes.filter((node) => !node.baseline);
  const initiallyRegistered = churn.map((_, index) => index).filter((index) => index % 2 === 0);
  for (const node of [...nodes.filter((each) => each.baseline), ...initiallyRegistered.map((index) => churn[index] as SoakNode)]) {
    await agentCall(node.agent, "PUT", "/v1/agent/service/register", registration(node));
  }

  // HAProxy: the playbook's shape.
  const [adminPort = 0, frontendPort = 0, handlerPort = 0] = await freePorts(3);
  const mainFile = join(directory, "haproxy.cfg");
  const stateFile = join(directory, "server-state");
  const slotsDirectory = join(directory, "slots");
  mkdirSync(slotsDirectory);
  const template = join(directory, "backends.cfg.in");
  const slotsFile = join(slotsDirectory, "backends.cfg");
  writeFileSync(
    mainFile,
    `${masterWorkerSections({ adminPort, stateFile, timeouts: { connect: "2s", clientAndServer: "30s" } })}frontend front
    bind 127.0.0.1:${frontendPort}
    acl pow path_beg /pow
    use_backend ${layout.powBackend} if pow
    default_backend ${layout.defaultBackend}
`,
  );
  writeFileSync(
    template,
    BACKENDS.map(
      (backend) => `backend ${backend}
    balance roundrobin
    option httpchk GET /health
    default-server inter 1s fastinter 500ms downinter 2s rise 2 fall 3
    server-template ${layout.slotPrefix} 1-${slots} 0.0.0.0:80 check disabled init-addr none
`,
    ).join("\n"),
  );
  copyFileSync(template, slotsFile);
  const haproxy = await startMasterWorker({ configFiles: [mainFile, slotsFile], masterSocket: join(directory, "master.sock"), adminAddress: `127.0.0.1:${adminPort}`, stateFile });
  cleanups.push(() => haproxy.stop());
  const admin = new RuntimeApiClient(`127.0.0.1:${adminPort}`, { timeoutMs: 5_000 });

  // The handler.
  const configFile = join(directory, "handler.yml");
  writeFileSync(
    configFile,
    stringify({
      consul: { address: proxy.address, timeoutMs: CONSUL_TIMEOUT_MS, blockingWaitSeconds: BLOCKING_WAIT_SECONDS },
      haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 2000, slotsFile: { template, output: slotsFile } },
      policy: { drainSeconds: 1 },
      lockFile: join(directory, "handler.lock"),
      run: { listen: `127.0.0.1:${handlerPort}`, resyncSeconds: 30 },
      log: { level: "info" },
      services: [{ name: SERVICE, backend: layout.defaultBackend, powBackend: layout.powBackend, slotPrefix: layout.slotPrefix, defaults: layout.defaults, powDefaults: layout.powDefaults }],
    }),
  );
  const handlerLog = join(directory, "handler.log");
  let handler: ChildProcess | undefined;
  let stallEndedAt = 0;
  let emptyEndedAt = 0;
  const lives: ProcessSample[][] = [];
  const startHandler = (): void => {
    const [command = process.execPath, ...prefix] = cliCommand();
    const log = openSync(handlerLog, "a");
    handler = spawn(command, [...prefix, "--config", configFile, "run"], { stdio: ["ignore", log, log], env: { ...process.env, CONSUL_HTTP_TOKEN: "" } });
    closeSync(log);
    lives.push([]);
  };
  const stopHandler = async (signal: NodeJS.Signals): Promise<void> => {
    const running = handler;
    handler = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(signal);
    await exited;
  };
  cleanups.push(() => stopHandler("SIGKILL"));
  startHandler();

  const handlerAnswers = async (): Promise<boolean> => {
    try {
      await fetch(`http://127.0.0.1:${handlerPort}/healthz`, { signal: AbortSignal.timeout(2_000) });
      return true;
    } catch {
      return false;
    }
  };

  /** Waits until every component is back, then until HAProxy equals Consul; returns ms from the first to the second. */
  const settle = async (label: string, limitMs = convergeLimitMs): Promise<number> => {
    // Consul restores an agent's own registrations after it rejoins by anti-entropy, whose
    // full sync runs about once a minute here; one that fails (no leader yet) waits for the
    // next. In the 60-minute run of 2026-12-07 that took over 60 s once (a graceful agent
    // restart between two leader kills).
    const readyBy = Date.now() + COMPONENTS_BACK_MS;
    // The load balancer's agent has settled (what the handler waits for after
    // it lost its agent, README "Failure modes"): every check it holds has run
    // and passes, and the servers see its node alive with those same checks.
    const lbSettled = async (): Promise<boolean> => {
      const own = (await lbAgent.api("GET", "/v1/agent/checks").catch(() => undefined))?.json;
      if (own === null || typeof own !== "object") return false;
      const ownChecks = Object.values(own as Record<string, { CheckID: string; Status: string }>);
      if (ownChecks.some((check) => check.Status !== "passing")) return false;
      const server = (await liveServers(servers))[0];
      const seen = server ? ((await server.api("GET", `/v1/health/node/${lbAgent.nodeName}`)).json as { CheckID: string; Status: string }[] | null) : null;
      if (!Array.isArray(seen) || !seen.some((check) => check.CheckID === "serfHealth" && check.Status === "passing")) return false;
      return ownChecks.every((check) => seen.some((other) => other.CheckID === check.CheckID && other.Status === "passing"));
    };
    for (;;) {
      const waitingFor = (await consulTruth(servers)) === undefined ? "Consul's servers (no leader or no answer)" : !(await lbSettled()) ? "the load balancer's agent (not settled: its checks and registrations are not back in the catalog)" : !(await handlerAnswers()) ? "the handler (its /healthz does not answer)" : undefined;
      if (waitingFor === undefined) break;
      if (Date.now() > readyBy) {
        violation("fault", `${label}: ${waitingFor} did not come back within ${COMPONENTS_BACK_MS / 1000} s`);
        return Number.POSITIVE_INFINITY;
      }
      await sleep(100);
    }
    const heldReadsDone = Math.max(stallEndedAt + STALLED_READ_BOUND_MS, emptyEndedAt + FABRICATED_INDEX_WAIT_MS);
    if (Date.now() < heldReadsDone) await sleep(heldReadsDone - Date.now());
    const from = Date.now();
    let last: string[] = [];
    while (Date.now() - from < Math.max(30_000, convergeLimitMs * 5)) {
      const truth = await consulTruth(servers);
      const [states, stats] = await Promise.all([admin.showServersState(), admin.showStat()]).catch(() => [undefined, undefined] as const);
      if (truth && states && stats) {
        last = difference(expectedInRotation(truth, layout), actualInRotation(states, stats, layout));
        if (last.length === 0) {
          const took = Date.now() - from;
          if (took > limitMs) violation("convergence", `${label}: HAProxy took ${took} ms to equal Consul (limit ${limitMs} ms)`);
          return took;
        }
      }
      await sleep(50);
    }
    violation("convergence", `${label}: HAProxy never equalled Consul; what differs (+ HAProxy only, - Consul only):\n    ${last.join("\n    ")}`);
    return Number.POSITIVE_INFINITY;
  };

  // The first fill is not after a fault: it has no limit of its own.
  const initial = await settle("the first fill", Number.POSITIVE_INFINITY);
  say(`first fill: HAProxy equals Consul ${initial} ms after every component answered`);
  // New slots are held down until HAProxy's own check passes (rise 2): the load starts once both backends serve.
  const servingBy = Date.now() + 30_000;
  while (backendsWithoutUpServer(await admin.showStat(), BACKENDS, layout.slotPrefix).length > 0) {
    if (Date.now() > servingBy) throw new Error("no UP server in a backend 30 s after the first fill");
    await sleep(100);
  }

  // ---------------------------------------------------------------- load
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let requests = 0;
  let allowedFailures = 0;
  const failures = new Map<string, number>();
  let loading = true;
  const oneRequest = (path: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const outgoing = request({ host: "127.0.0.1", port: frontendPort, path, agent, timeout: 30_000 }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode === 200 ? undefined : `HTTP ${response.statusCode ?? "?"}`));
        response.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      outgoing.on("timeout", () => outgoing.destroy(new Error("timeout after 30 s")));
      outgoing.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      outgoing.end();
    });
  const loadLoops = Array.from({ length: 8 }, async (_, loop) => {
    const path = loop % 2 === 0 ? "/" : "/pow";
    while (loading) {
      const failure = await oneRequest(path);
      requests += 1;
      // About 100 requests a second per loop: load, not a CPU benchmark that starves the rest.
      await sleep(10);
      if (failure === undefined) continue;
      const connectionError = ["ECONNREFUSED", "ECONNRESET", "EPIPE", "socket hang up"].includes(failure);
      if (connectionError && haproxyIsAway()) {
        allowedFailures += 1;
        await sleep(20);
        continue;
      }
      failures.set(failure, (failures.get(failure) ?? 0) + 1);
      violation("failed-request", `a request to ${path} failed: ${failure}`);
      await sleep(20);
    }
  });

  // ------------------------------------------------------ checked all along
  let checking = true;
  let upSamples = 0;
  const watcher = (async () => {
    let lastProcessSample = 0;
    while (checking) {
      if (!haproxyIsAway()) {
        try {
          const stats = await admin.showStat();
          if (!haproxyIsAway()) {
            upSamples += 1;
            const empty = backendsWithoutUpServer(stats, BACKENDS, layout.slotPrefix);
            if (empty.length > 0) violation("empty-backend", `no UP server in ${empty.join(", ")}`);
          }
        } catch (error) {
          if (!haproxyIsAway()) violation("admin-socket", `HAProxy's admin socket did not answer (${(error as Error).message})`);
        }
      }
      const pid = handler?.pid;
      if (pid !== undefined && Date.now() - lastProcessSample >= 2_000) {
        lastProcessSample = Date.now();
        try {
          const status = readFileSync(`/proc/${pid}/status`, "utf8");
          const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
          const privateKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? NaN);
          const descriptors = readdirSync(`/proc/${pid}/fd`).length;
          const life = lives[lives.length - 1];
          const sample: ProcessSample = { at: Date.now(), rssKb, privateKb, descriptors, heapUsedBytes: undefined };
          if (Number.isFinite(rssKb) && Number.isFinite(privateKb)) life?.push(sample);
          // The heap in use, from the handler's own /metrics (prom-client's default metrics).
          void fetch(`http://127.0.0.1:${handlerPort}/metrics`, { signal: AbortSignal.timeout(1_500) })
            .then((response) => response.text())
            .then((text) => {
              const bytes = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
              if (Number.isFinite(bytes)) sample.heapUsedBytes = bytes;
            })
            .catch(() => undefined);
        } catch {
          // The process just exited (a handler-kill fault).
        }
      }
      await sleep(250);
    }
  })();

  // ------------------------------------------------------------- faults
  let readOnlyMounted = false;
  const unmountSlots = (): void => {
    if (!readOnlyMounted) return;
    readOnlyMounted = false;
    spawnSyncOk("umount", [slotsDirectory]);
  };
  cleanups.push(unmountSlots);
  const churnNode = (fault: Fault): SoakNode => churn[fault.node ?? -1] ?? (churn[0] as SoakNode);
  const proxyModes: Partial<Record<FaultKind, FaultMode>> = { "proxy-stall": "stall", "proxy-truncated": "truncated", "proxy-500": "500", "proxy-empty": "empty" };
  const downServers = new Map<number, ConsulAgent>();
  let frozenWorker: number | undefined;

  const startFault = async (fault: Fault): Promise<void> => {
    const node = churnNode(fault);
    switch (fault.kind) {
      case "register":
        return agentCall(node.agent, "PUT", "/v1/agent/service/register", registration(node));
      case "deregister":
        return agentCall(node.agent, "PUT", `/v1/agent/service/deregister/${node.name}`);
      case "maintenance":
        return agentCall(node.agent, "PUT", `/v1/agent/service/maintenance/${node.name}?enable=true&reason=soak`);
      case "check-flip":
        return agentCall(node.agent, "PUT", `/v1/agent/check/fail/ttl-${node.name}`);
      case "leader-kill": {
        const leader = (await liveServers(servers))[0];
        if (!leader) return;
        downServers.set(fault.number, leader);
        return leader.stop("SIGKILL");
      }
      case "agent-restart":
        return lbAgent.stop(fault.signal ?? "SIGKILL");
      case "proxy-stall":
      case "proxy-truncated":
      case "proxy-500":
      case "proxy-empty":
        proxy.mode = proxyModes[fault.kind] ?? "pass";
        return;
      case "haproxy-reload":
        return haproxy.reload();
      case "haproxy-restart":
        haproxyAway += 1;
        try {
          await haproxy.restart();
        } finally {
          haproxyAway -= 1;
          // Requests that were on the old process's connections fail a moment after.
          haproxyAwayUntil = Date.now() + 2_000;
        }
        return;
      case "haproxy-freeze":
        // The worker's pid is read before SIGSTOP: afterwards it cannot answer.
        frozenWorker = await haproxy.workerPid();
        haproxyAway += 1;
        process.kill(frozenWorker, "SIGSTOP");
        return;
      case "handler-kill":
        return stopHandler("SIGKILL");
      case "slots-read-only":
        if (!spawnSyncOk("mount", ["--bind", slotsDirectory, slotsDirectory])) return skip(fault);
        if (!spawnSyncOk("mount", ["-o", "remount,bind,ro", slotsDirectory])) {
          spawnSyncOk("umount", [slotsDirectory]);
          return skip(fault);
        }
        readOnlyMounted = true;
        return;
    }
  };
  const endFault = async (fault: Fault): Promise<void> => {
    const node = churnNode(fault);
    switch (fault.kind) {
      case "maintenance":
        return agentCall(node.agent, "PUT", `/v1/agent/service/maintenance/${node.name}?enable=false`);
      case "check-flip":
        return agentCall(node.agent, "PUT", `/v1/agent/check/pass/ttl-${node.name}`);
      case "leader-kill": {
        const server = downServers.get(fault.number);
        downServers.delete(fault.number);
        return server?.start("member");
      }
      case "agent-restart":
        return lbAgent.start("api");
      case "proxy-stall":
        proxy.mode = "pass";
        stallEndedAt = Date.now();
        return;
      case "proxy-empty":
        proxy.mode = "pass";
        emptyEndedAt = Date.now();
        return;
      case "proxy-truncated":
      case "proxy-500":
        proxy.mode = "pass";
        return;
      case "haproxy-freeze":
        if (frozenWorker !== undefined) process.kill(frozenWorker, "SIGCONT");
        haproxyAway -= 1;
        haproxyAwayUntil = Date.now() + 1_000;
        return;
      case "handler-kill":
        return startHandler();
      case "slots-read-only":
        return unmountSlots();
      default:
        return;
    }
  };
  const skip = (fault: Fault): void => {
    skippedFaults.set(fault.kind, (skippedFaults.get(fault.kind) ?? 0) + 1);
  };

  // MINUTES of faults, counted from here (setup takes 15-30 s); at least one segment.
  const deadline = Date.now() + minutes * 60_000;
  const segments = drawSchedule({ seed, segments: Math.max(1, Math.ceil((minutes * 60_000) / SEGMENT_MS)), segmentMs: SEGMENT_MS, churnNodes: churn.length, initiallyRegistered });
  const convergence: number[] = [];
  for (const [index, segment] of segments.entries()) {
    if (index > 0 && Date.now() > deadline) break;
    const segmentStart = Date.now();
    for (const step of segment.steps) {
      const wait = segmentStart + step.at - Date.now();
      if (wait > 0) await sleep(wait);
      const text = `${step.action === "start" ? "start" : "end  "} ${describeFault(step.fault)}`;
      try {
        if (step.action === "start") {
          inProgress.set(step.fault.number, step.fault);
          injected.set(step.fault.kind, (injected.get(step.fault.kind) ?? 0) + 1);
          await startFault(step.fault);
          say(text);
          if (!lasts(step.fault.kind)) inProgress.delete(step.fault.number);
        } else {
          await endFault(step.fault);
          inProgress.delete(step.fault.number);
          say(text);
        }
      } catch (error) {
        violation("fault", `${text}: the soak could not carry it out (${(error as Error).message})`);
        inProgress.delete(step.fault.number);
      }
    }
    const took = await settle(`after segment ${index + 1}`);
    convergence.push(took);
    say(`segment ${index + 1}: HAProxy equals Consul ${took} ms after every component was back`);
  }

  // ------------------------------------------------------------- report
  loading = false;
  checking = false;
  await Promise.all([...loadLoops, watcher]);
  agent.destroy();
  const longest = lives.reduce((best, life) => (life.length > best.length ? life : best), [] as ProcessSample[]);
  const verdict = growth(longest, { warmUpMs: 10 * 60_000, minSpanMs: 15 * 60_000, maxPrivateGrowth: 0.1, maxRetainedHeapGrowth: 0.1, maxDescriptorGrowth: 5 });
  if (verdict.growing) violation("growth", `the handler is growing over ${((longest.at(-1)?.at ?? 0) - (longest[0]?.at ?? 0)) / 1000} s of one life: ${verdict.growing}`);
  const first = longest[0];
  const last = longest.at(-1);
  console.log("");
  console.log(`soak report (seed ${seed}, ${minutes} min, ${elapsed()} in all; replay: make soak SEED=${seed} MINUTES=${minutes})`);
  console.log(`  faults injected: ${[...injected].filter(([, count]) => count > 0).map(([kind, count]) => `${kind} ${count}`).join(", ")}`);
  if (skippedFaults.size > 0) console.log(`  faults skipped (need root): ${[...skippedFaults].map(([kind, count]) => `${kind} ${count}`).join(", ")}`);
  console.log(`  requests: ${requests}, failed: ${[...failures.values()].reduce((a, b) => a + b, 0)} (${[...failures].map(([kind, count]) => `${kind} ${count}`).join(", ") || "none"}), connection errors while HAProxy restarted: ${allowedFailures}`);
  console.log(`  UP-server samples: ${upSamples}; convergence after each segment (ms): longest ${convergence.length > 0 ? Math.max(...convergence) : "none"}, all ${convergence.join(" ")}`);
  console.log(`  handler lives: ${lives.length}; the longest: ${longest.length} samples, RSS ${first ? Math.round(first.rssKb / 1024) : "?"} -> ${last ? Math.round(last.rssKb / 1024) : "?"} MB, descriptors ${first?.descriptors ?? "?"} -> ${last?.descriptors ?? "?"}${verdict.judged ? `, growth ${(verdict.rssGrowth * 100).toFixed(1)} % RSS (${(verdict.privateGrowth * 100).toFixed(1)} % of its private part), ${verdict.descriptorGrowth} descriptors` : " (too short to judge a trend: 25 minutes needed)"}`);
  const megabytes = (values: number[], unit: number): string => values.map((value) => (value / unit).toFixed(1)).join(" ");
  console.log(`  the longest life by minute: RSS (MB) ${megabytes(byMinute(longest, (sample) => sample.rssKb), 1024)}`);
  console.log(`    its private part (MB) ${megabytes(byMinute(longest, (sample) => sample.privateKb), 1024)}`);
  console.log(`    heap in use (MB) ${megabytes(byMinute(longest, (sample) => sample.heapUsedBytes), 1024 * 1024)}${verdict.judged ? `; its low-water mark grew ${(verdict.retainedHeapGrowth * 100).toFixed(1)} %` : ""}`);
  console.log(`  violations: ${violations.length}`);
  const broke = (kind: ViolationKind): boolean => violations.some((each) => each.kind === kind);
  const checks = [
    ["every backend had an UP server", broke("empty-backend")],
    ["no request failed outside HAProxy restarts", broke("failed-request")],
    [`HAProxy equalled Consul within ${convergeLimitMs} ms after every segment`, broke("convergence")],
    ["HAProxy answered outside its own faults", broke("admin-socket")],
    ["no growth of the handler's memory or descriptors", broke("growth")],
    ["every fault was carried out", broke("fault")],
    // A soak that injected nothing proved nothing.
    ["faults were injected and the load ran", convergence.length === 0 || [...injected.values()].every((count) => count === 0) || requests === 0],
  ] as const;
  for (const [name, broken] of checks) console.log(`${broken ? "FAIL" : "PASS"}: ${name}`);
  const failed = checks.filter(([, broken]) => broken).length;
  console.log(`soak: ${checks.length - failed} passed, ${failed} failed, 0 skipped`);
  if (failed > 0) {
    const kept = mkdtempSync(join(tmpdir(), "chh-soak-failed-"));
    copyFileSync(handlerLog, join(kept, "handler.log"));
    console.log(`  the handler's log is kept in ${kept}`);
    process.exitCode = 1;
  }
}

function spawnSyncOk(command: string, commandArgs: string[]): boolean {
  const result = spawnSync(command, commandArgs, { stdio: "ignore" });
  return result.status === 0;
}

// Stopped early (Ctrl-C, a CI deadline): the Consul agents, HAProxy, the
// nodes and a read-only bind mount must not outlive the soak.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    stoppedBy = signal;
    console.log(`soak: stopped by ${signal} (seed ${seed}); cleaning up`);
    void cleanup().finally(() => process.exit(1));
  });
}

main()
  .catch((error: unknown) => {
    console.log(`soak: FAILED: ${(error as Error).stack ?? String(error)} (seed ${seed})`);
    console.log("soak: 0 passed, 1 failed, 0 skipped");
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    // Keep-alive sockets and timers of the harness must not hold the process.
    process.exit(process.exitCode ?? 0);
  });
