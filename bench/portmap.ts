// The load balancer's portmap in Consul KV (`run` with lb.enabled and
// lb.render, issue #17), against a real Consul and a master-worker HAProxy
// that loads the handler's rendered file as its last `-f` (as the playbook
// installs it). Every clock starts when Consul answered the PUT of the
// portmap key and stops when a client sees the change from outside:
//
// - a route change (a path route moved between the two backends of one
//   listener): a fresh connection for the new path answered by the other
//   backend's node; HAProxy's worker Pid must be the same afterwards (no
//   reload);
// - a new listener (http and tcp in turn): a fresh connection to the new port
//   answered by the node. Beside it, from the same samples: when the port
//   first accepted (the new worker has it), when the handler logged its
//   reload, and when the slot was seen filled and UP (polled from outside).
//   The entries' checks are fast (`inter:100ms,rise:1`): the handler fills a
//   slot held DOWN until HAProxy's check passes (haproxy.holdDownUntilChecked,
//   on by default), so the checks are part of "serving". Reference rows: the
//   same with HAProxy's default check timings, and without the hold-down;
// - 1 -> 200 entries under wrk keep-alive load on the listener already there:
//   every new port accepts (the new worker has them), with wrk's failed
//   requests over the change; then every one served (a reference: slots
//   filled, HAProxy's default checks passed).
//
// The parts measured alone in the same run, to show what dominates: `haproxy
// -c` of the configuration (1 and 200 entries), a master `reload` alone (the
// handler paused), the route map swapped over the admin socket directly
// (prepare/add/commit), and the handler's parse + render and map files for
// 200 entries, in-process. CHB_PORTMAP_DEBUG=1 prints each new listener's
// slot states and the handler's log lines.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { masterWorkerSections, startMasterWorker, type MasterWorkerHaproxy } from "../test/harness/haproxy-master.js";
import { whileHandlerPaused } from "../test/harness/cli.js";
import { parsePortmapKv } from "../handler/portmap/parse.js";
import { renderLoadBalancer } from "../handler/portmap/render.js";
import { writeMaps } from "../handler/lb/files.js";
import { freePort, inBatches, ms, now, parseWrk, percentile, report, repositoryRoot, sleep, startCli, startConsul, startWrk, waitUntil, writeHandlerConfig, type ConsulAgent, type RunningCli } from "./lib.js";

const FOLDER = "chb/lb/portmap/";
/** The new listeners' checks: fast, so that "serving" is mostly the handler and the reload. */
const FAST = "check:/health,inter:100ms,rise:1";
const MAX_SPREAD_CHECKS = "200ms";
/** The nodes' names, which they answer with: this run's own, so that an answer from another process's node (the tests use web-1) is not taken for ours. */
const WEB = `chb-pm-web-${process.pid}`;
const API = `chb-pm-api-${process.pid}`;
const ours = (answer: Answer) => answer.node === WEB || answer.node === API;

// ---------------------------------------------------------------------------
// Clients of our own: what is observed must not depend on the code measured.

interface Answer {
  /** The TCP connection was accepted. */
  accepted: boolean;
  status?: number;
  /** The node that answered (sample-node's JSON), when one did. */
  node?: string;
}

/** One HTTP/1.0 request on a fresh connection (works through a tcp listener too). */
function probe(port: number, path = "/", timeoutMs = 2000): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let accepted = false;
    let data = "";
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      accepted = true;
      socket.write(`GET ${path} HTTP/1.0\r\nHost: bench.example\r\n\r\n`);
    });
    socket.on("data", (chunk: string) => (data += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(data)?.[1] ?? Number.NaN);
      const node = /"node":"([^"]+)"/.exec(data)?.[1];
      resolve({ accepted, ...(Number.isFinite(status) ? { status } : {}), ...(node !== undefined ? { node } : {}) });
    });
  });
}

/** Whether a TCP connection to the port is accepted (then closed at once). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** One command on a unix or TCP CLI socket (HAProxy's master CLI, its admin socket); the whole answer. */
function cliCommand(target: { path: string } | { host: string; port: number }, text: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    let output = "";
    const timer = setTimeout(() => socket.destroy(new Error(`no answer to '${text}' within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.end(`${text}\n`));
    socket.on("data", (chunk: string) => (output += chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

/** The worker's Pid from `show info` on a fresh admin connection; undefined while none answers. */
async function workerPid(adminPort: number): Promise<number | undefined> {
  const info = await cliCommand({ host: "127.0.0.1", port: adminPort }, "show info", 2000).catch(() => "");
  const pid = Number(/^Pid: (\d+)$/m.exec(info)?.[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function timed(command: string, args: string[]): Promise<number> {
  const started = now();
  return new Promise((resolve, reject) => execFile(command, args, { timeout: 60_000 }, (error, _stdout, stderr) => (error ? reject(new Error(`${command} ${args.join(" ")}: ${stderr || error.message}`)) : resolve(now() - started))));
}

// ---------------------------------------------------------------------------
// The stack: Consul, nodes, a master-worker HAProxy, the handler with lb.render.

interface Stack {
  consul: ConsulAgent;
  haproxy: MasterWorkerHaproxy;
  /** The running handler (restartHandler replaces it). */
  readonly cli: RunningCli;
  adminPort: number;
  masterSocket: string;
  mainFile: string;
  portmapFile: string;
  stateFile: string;
  mapDirectory: string;
  /** PUTs the portmap; the time Consul's answer arrived (now()) and its wall-clock (Date.now()). */
  put(portmap: string): Promise<{ at: number; wall: number }>;
  /** How many times the handler logged this message so far. */
  logged(message: string): number;
  /** Stops the handler and starts it again with haproxy.holdDownUntilChecked set so, on the same portmap (no reload). */
  restartHandler(holdDownUntilChecked: boolean): Promise<void>;
}

/** The first log line at or after `sinceWall` that matches, as its wall-clock time; undefined: none yet. */
function logTime(logs: string, sinceWall: number, matches: (entry: Record<string, unknown>) => boolean): number | undefined {
  for (const line of logs.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const wall = Date.parse(String(entry["timestamp"]));
    // The log's clock has millisecond steps: a line in the same millisecond as the PUT's answer counts.
    if (wall >= Math.floor(sinceWall) && matches(entry)) return wall;
  }
  return undefined;
}

const reloadLogged = (entry: Record<string, unknown>) => entry["message"] === "HAProxy reloaded with the portmap";

async function startNode(name: string, children: ChildProcess[]): Promise<{ port: number }> {
  const port = await freePort();
  children.push(spawn(process.execPath, [join(repositoryRoot, "demo/sample-node.mjs"), name, String(port)], { stdio: "ignore" }));
  await waitUntil(`node ${name} to answer`, async () => (await probe(port, "/health", 500)).status === 200, 10_000);
  return { port };
}

async function startStack(directory: string, cleanups: (() => Promise<unknown>)[]): Promise<Stack> {
  const consul = await startConsul();
  cleanups.push(() => consul.cleanup());
  const adminPort = await freePort();
  const stateFile = join(directory, "server-state");
  const mainFile = join(directory, "haproxy.cfg");
  const portmapFile = join(directory, "portmap.cfg");
  const masterSocket = join(directory, "master.sock");
  const mapDirectory = join(directory, "maps");
  writeFileSync(mainFile, `${masterWorkerSections({ adminPort, stateFile, timeouts: { connect: "1s", clientAndServer: "10s" } })}backend main_back\n    server-template srv 1-2 0.0.0.0:80 check disabled init-addr none\n`);
  writeFileSync(portmapFile, "");
  const haproxy = await startMasterWorker({ configFiles: [mainFile, portmapFile], masterSocket, adminAddress: `127.0.0.1:${adminPort}`, stateFile });
  cleanups.push(() => haproxy.stop());
  const haproxyBinary = await new Promise<string>((resolve, reject) => execFile("sh", ["-c", "command -v haproxy"], (error, stdout) => (error ? reject(error) : resolve(stdout.trim()))));
  const handlerConfig = (holdDownUntilChecked: boolean) =>
    writeHandlerConfig({
      consul: { address: consul.address, timeoutMs: 2000 },
      haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 5000, holdDownUntilChecked },
      policy: { drainSeconds: 0 },
      run: { listen: "127.0.0.1:0" },
      log: { level: "info" },
      services: [{ name: "iri", backend: "main_back", slotPrefix: "srv" }],
      lb: {
        kvPrefix: FOLDER,
        enabled: true,
        render: true,
        configFile: portmapFile,
        mapDirectory,
        certDirectory: join(directory, "no-certs"),
        bindAddress: "127.0.0.1",
        checkWith: [mainFile],
        haproxyBinary,
        masterSocket,
        serverStateFile: stateFile,
        cookieKeyFile: join(directory, "cookie-key"),
      },
    });
  let cli = startCli(["--config", handlerConfig(true), "run"]);
  cleanups.push(() => cli.stop("SIGKILL"));
  return {
    consul,
    haproxy,
    get cli() {
      return cli;
    },
    adminPort,
    masterSocket,
    mainFile,
    portmapFile,
    stateFile,
    mapDirectory,
    async put(portmap) {
      const response = await fetch(`${consul.address}/v1/kv/${FOLDER}portmap`, { method: "PUT", body: portmap });
      const at = now();
      const wall = Date.now();
      if (response.status !== 200) throw new Error(`PUT of the portmap: ${response.status} ${await response.text()}`);
      return { at, wall };
    },
    logged: (message) => cli.logs().split("\n").filter((line) => line.includes(`"message":"${message}"`)).length,
    async restartHandler(holdDownUntilChecked) {
      await cli.stop("SIGTERM");
      cli = startCli(["--config", handlerConfig(holdDownUntilChecked), "run"]);
      await waitUntil("the restarted handler to follow the portmap", () => cli.logs().includes('"message":"applying the portmap"'), 30_000, 20);
      await sleep(1000);
    },
  };
}

/** Puts a portmap that needs a reload and waits until the handler did it and the given port serves; then lets the follow-up reconciles pass. */
async function settle(stack: Stack, portmap: string, servedPort: number): Promise<void> {
  const reloads = stack.logged("HAProxy reloaded with the portmap");
  await stack.put(portmap);
  await waitUntil("the handler to reload HAProxy with the portmap", () => stack.logged("HAProxy reloaded with the portmap") > reloads, 30_000, 20);
  await waitUntil(`port ${servedPort} to serve`, async () => ours(await probe(servedPort)), 30_000, 20);
  // The restart detection's reconcile (every 200 ms) and the new context's first one.
  await sleep(800);
}

// ---------------------------------------------------------------------------

/** Times from the PUT's answer, in ms. */
interface ListenerSample {
  /** A fresh connection to the new port answered by the node. */
  served: number;
  /** The new port first accepted a connection (the new worker has it). */
  accepted: number;
  /**
   * The slot seen with the node's address (the handler filled it), and UP
   * (HAProxy's check passed, or no hold-down): polled from outside every 5 ms
   * or so; not seen before the node answered: the answer's time.
   */
  filled: number;
  up: number;
  /** The handler's log line "HAProxy reloaded with the portmap" (its log clock: 1 ms steps). */
  reloaded: number | undefined;
}

/** PUTs `portmap` (which adds a listener on `port`) and times it until a fresh connection there is answered by a node. */
async function newListener(stack: Stack, portmap: string, port: number, backend: string): Promise<ListenerSample> {
  const { at, wall } = await stack.put(portmap);
  let accepted: number | undefined;
  let filled: number | undefined;
  let up: number | undefined;
  let watching = true;
  const debug: string[] = [];
  // The slot's row seen from outside, on a fresh admin connection each time (a kept one would keep the old worker).
  const watcher = (async () => {
    while (watching && up === undefined) {
      // A short timeout: a connection taken by the old worker during the reload may get no answer.
      const row = (await cliCommand({ host: "127.0.0.1", port: stack.adminPort }, `show stat ${backend} 4 -1`, 200).catch(() => "")).split("\n").find((line) => line.startsWith(`${backend},pm1,`));
      const seen = now();
      const fields = row?.split(",") ?? [];
      if (process.env["CHB_PORTMAP_DEBUG"]) debug.push(`+${ms(seen - at)} ${fields[17] ?? "-"} ${fields[73] ?? ""} ${fields[36] ?? ""}`);
      if (filled === undefined && fields[73] !== undefined && !fields[73].startsWith("0.0.0.0") && fields[17] !== "MAINT") filled = seen - at;
      if (fields[17]?.startsWith("UP") === true) up = seen - at;
      await sleep(5);
    }
  })();
  try {
    for (;;) {
      const answer = await probe(port);
      const seen = now();
      if (answer.accepted && accepted === undefined) accepted = seen;
      if (ours(answer)) {
        // The handler logged its reload before the node answered, but the line may still be in the pipe.
        await waitUntil("the handler's log of the reload", () => logTime(stack.cli.logs(), wall, reloadLogged) !== undefined, 5000);
        const reloaded = logTime(stack.cli.logs(), wall, reloadLogged);
        if (process.env["CHB_PORTMAP_DEBUG"]) {
          const since = stack.cli.logs().split("\n").filter((line) => Date.parse(/"timestamp":"([^"]+)"/.exec(line)?.[1] ?? "") >= Math.floor(wall));
          console.log(`    ${debug.filter((line, index) => line.split(" ").slice(1).join(" ") !== debug[index - 1]?.split(" ").slice(1).join(" ")).join(" | ")}\n${since.map((line) => `    ${line.slice(0, 220)}`).join("\n")}`);
        }
        // A part the watcher had not seen yet when the node answered was done by then.
        return { served: seen - at, accepted: (accepted ?? seen) - at, filled: filled ?? seen - at, up: up ?? seen - at, reloaded: reloaded === undefined ? undefined : reloaded - wall };
      }
      if (seen - at > 30_000) throw new Error(`port ${port} not served 30 s after the PUT (last answer ${JSON.stringify(answer)}); handler log: ${stack.cli.logs().slice(-1500)}`);
      await sleep(answer.accepted ? 1 : 2);
    }
  } finally {
    watching = false;
    await watcher;
  }
}

function describeSample(sample: ListenerSample): string {
  const at = (value: number | undefined) => (value === undefined ? "-" : ms(value));
  return `served ${ms(sample.served)} ms after the PUT's answer (port accepting ${ms(sample.accepted)}, handler's log: reload done ${at(sample.reloaded)}; slot filled ${at(sample.filled)}, UP ${at(sample.up)} ms)`;
}

const list = (values: readonly number[]) => values.map((value) => ms(value)).join(", ");
const p50 = (values: readonly number[]) => percentile(values, 0.5);
const defined = (values: readonly (number | undefined)[]) => values.filter((value): value is number => value !== undefined);

export async function portmapBenchmark(quick: boolean): Promise<void> {
  const routeSamples = quick ? 5 : 20;
  const listenerSamples = quick ? 3 : 10;
  const slowSamples = quick ? 1 : 2;
  const bigSamples = quick ? 1 : 3;
  const bigServices = 20;
  const bigEntries = 200;

  const directory = mkdtempSync(join(tmpdir(), "chb-portmap-"));
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  let started: Stack | undefined;
  try {
    const web = await startNode(WEB, children);
    const api = await startNode(API, children);
    const stack = await startStack(directory, cleanups);
    started = stack;
    const { consul } = stack;
    const register = (id: string, name: string, port: number) => consul.register({ ID: id, Name: name, Address: "127.0.0.1", Port: port, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" } });
    await register("web", "web", web.port);
    await register("api", "api", api.port);
    const services = Array.from({ length: bigServices }, (_, index) => `svc${String(index + 1).padStart(2, "0")}`);
    for (const [index, name] of services.entries()) await register(`${name}-1`, name, index % 2 === 0 ? web.port : api.port);

    const basePort = await freePort();
    const base = `http://${basePort}:web{${FAST}}`;

    // --- Routes: two backends on one listener, a path route moved each time.
    const routePort = await freePort();
    const routes = (path: string) => `${base} http://${routePort}:web{${FAST}} http://${routePort}:api{path:${path},${FAST}}`;
    await settle(stack, routes("/r0/"), routePort);
    await waitUntil("the first route to reach the api node", async () => (await probe(routePort, "/r0/x")).node === API, 30_000);
    const pidBefore = await workerPid(stack.adminPort);
    const swappedBefore = stack.logged("the portmap's routes swapped in without a reload");
    const routeTimes: number[] = [];
    const routeHandler: number[] = [];
    for (let sample = 1; sample <= routeSamples; sample += 1) {
      const path = `/r${sample}/`;
      if ((await probe(routePort, `${path}x`)).node !== WEB) throw new Error(`${path} is not the default route's before its change`);
      await sleep(Math.random() * 50);
      const { at, wall } = await stack.put(routes(path));
      for (;;) {
        const answer = await probe(routePort, `${path}x`);
        const seen = now();
        if (answer.node === API) {
          routeTimes.push(seen - at);
          const swapped = logTime(stack.cli.logs(), wall, (entry) => entry["message"] === "the portmap's routes swapped in without a reload");
          if (swapped !== undefined) routeHandler.push(swapped - wall);
          break;
        }
        if (seen - at > 10_000) throw new Error(`route ${path} not served 10 s after the PUT; handler log: ${stack.cli.logs().slice(-1500)}`);
      }
      if ((await probe(routePort, `/r${sample - 1}/x`)).node !== WEB) throw new Error(`the route moved away from /r${sample - 1}/ still reaches the api node`);
      await sleep(100);
    }
    const pidAfter = await workerPid(stack.adminPort);
    const swaps = stack.logged("the portmap's routes swapped in without a reload") - swappedBefore;
    console.log(`  route change -> served: ${list(routeTimes)} ms; the handler's log line "swapped in" at ${list(routeHandler)} ms (log clock, 1 ms steps); worker ${pidBefore} -> ${pidAfter}; ${swaps} swaps logged`);
    // The same swap done directly over the admin socket: what HAProxy's runtime API costs alone.
    const mapFile = join(stack.mapDirectory, `pm_${routePort}_path.map`);
    const direct: number[] = [];
    for (let sample = 0; sample < 5; sample += 1) {
      const lines = readFileSync(mapFile, "utf8").split("\n").filter((line) => line.trim() !== "");
      const started = now();
      const prepared = await cliCommand({ host: "127.0.0.1", port: stack.adminPort }, `prepare map ${mapFile}`);
      const version = /New version created: (\d+)/.exec(prepared)?.[1];
      if (version === undefined) throw new Error(`prepare map: ${prepared}`);
      const batch = [...lines.map((line) => `add map @${version} ${mapFile} ${line}`), `commit map @${version} ${mapFile}`].join(";");
      const answer = await cliCommand({ host: "127.0.0.1", port: stack.adminPort }, batch);
      direct.push(now() - started);
      if (/error|unknown|not found|invalid|denied/i.test(answer)) throw new Error(`the direct map swap: ${answer}`);
    }
    report({
      figure: "portmap route change only (a path route moved between 2 backends of 1 http listener) -> the new route served, no reload",
      shape: `[master-worker HAProxy, 2 listeners (3 entries); PUT answered -> fresh connection answered by the other backend's node; n=${routeTimes.length}]`,
      target: "p50 <= 50 ms, same worker (no reload)",
      measured: `p50 ${ms(p50(routeTimes))} ms, max ${ms(Math.max(...routeTimes))} ms; worker ${pidBefore === pidAfter ? "the same" : `CHANGED ${pidBefore} -> ${pidAfter}`} (${swaps} swaps logged); the map swap alone over the admin socket (prepare, add, commit): p50 ${ms(p50(direct))} ms`,
      met: p50(routeTimes) <= 50 && pidBefore !== undefined && pidBefore === pidAfter && swaps === routeTimes.length,
    });

    // --- New listeners: each sample adds one (http and tcp in turn) to the portmap.
    const added: string[] = [base];
    const listeners = async (label: string, count: number, entry: (type: "http" | "tcp", port: number) => string, types: readonly ("http" | "tcp")[] = ["http", "tcp"]): Promise<ListenerSample[]> => {
      const results: ListenerSample[] = [];
      for (let sample = 0; sample < count; sample += 1) {
        const port = await freePort();
        const type = types[sample % types.length] ?? "http";
        added.push(entry(type, port));
        await sleep(Math.random() * 100);
        const result = await newListener(stack, added.join(" "), port, `pm_${port}_web`);
        results.push(result);
        console.log(`  new ${type} listener${label}: ${describeSample(result)}`);
        await sleep(800);
      }
      return results;
    };
    const fastEntry = (type: "http" | "tcp", port: number) => `${type}://${port}:web{${type === "http" ? FAST : "inter:100ms,rise:1"}}`;
    const breakdown = (results: readonly ListenerSample[]) => {
      const part = (name: string, values: readonly (number | undefined)[]) => `${name} ${ms(p50(defined(values)))}`;
      return `p50 of the parts: ${[
        part("port accepting (new worker)", results.map((result) => result.accepted)),
        part("handler's reload done (its log)", results.map((result) => result.reloaded)),
        part("slot filled", results.map((result) => result.filled)),
        part("slot UP", results.map((result) => result.up)),
      ].join(", ")} ms`;
    };
    await settle(stack, base, basePort);
    const fast = await listeners("", listenerSamples, fastEntry);
    const served = fast.map((sample) => sample.served);
    report({
      figure: "portmap change adding 1 listener (http and tcp in turn, checks inter:100ms,rise:1) -> a fresh connection to it answered by the node",
      shape: `[master-worker HAProxy, 1 -> ${listenerSamples + 1} listeners, the service registered with a live node, hold-down on (the default); n=${fast.length}]`,
      target: "p50 and max <= 1 s",
      measured: `p50 ${ms(p50(served))} ms, max ${ms(Math.max(...served))} ms; ${breakdown(fast)}`,
      met: p50(served) <= 1000 && Math.max(...served) <= 1000,
    });
    // The same with HAProxy's default check timings (inter 2 s, rise 2): the hold-down waits for them.
    const slow = await listeners(", default checks", slowSamples, (_type, port) => `http://${port}:web{check:/health}`, ["http"]);
    report({
      figure: "the same with HAProxy's default check timings (inter 2s, rise 2)",
      shape: `[hold-down on; n=${slow.length}]`,
      target: "(reference)",
      measured: `served ${list(slow.map((sample) => sample.served))} ms; ${breakdown(slow)}`,
    });

    // --- 1 -> 200 entries under keep-alive load on the listener already there.
    const bigPorts: number[] = [];
    while (bigPorts.length < bigEntries - 1) bigPorts.push(await freePort());
    const bigPortmap = [base, ...bigPorts.map((port, index) => `${index % 2 === 0 ? "http" : "tcp"}://${port}:${services[index % bigServices] ?? "svc01"}{slots:2}`)].join(" ");
    const walls: number[] = [];
    const servedAll: number[] = [];
    const handlerReloads: number[] = [];
    let requests = 0;
    let failed = 0;
    const wrkDetails: string[] = [];
    for (let sample = 0; sample < bigSamples; sample += 1) {
      await settle(stack, base, basePort);
      const wrk = startWrk(["-t1", "-c16", "-d300s", `http://127.0.0.1:${basePort}/`]);
      try {
        await sleep(1000);
        const pid = await workerPid(stack.adminPort);
        const { at, wall } = await stack.put(bigPortmap);
        const last = bigPorts[bigPorts.length - 1] ?? 0;
        await waitUntil("the last new port to accept", () => accepts(last), 60_000, 5);
        const pending = new Set(bigPorts);
        while (pending.size > 0) {
          await inBatches([...pending], 16, async (port) => void ((await accepts(port)) && pending.delete(port)));
          if (now() - at > 60_000) throw new Error(`${pending.size} of the 199 new ports do not accept 60 s after the PUT`);
        }
        const everyPort = now();
        walls.push(everyPort - at);
        const newPid = await workerPid(stack.adminPort);
        if (newPid === pid) throw new Error(`every port accepts but the worker is the same (${pid})`);
        await waitUntil("the handler's log of the reload", () => logTime(stack.cli.logs(), wall, reloadLogged) !== undefined, 10_000);
        const reloaded = logTime(stack.cli.logs(), wall, reloadLogged);
        if (reloaded !== undefined) handlerReloads.push(reloaded - wall);
        // Every one served: slots filled, each slot's first checks passed (HAProxy's defaults).
        const unserved = new Set(bigPorts);
        while (unserved.size > 0) {
          await inBatches([...unserved], 16, async (port) => void (ours(await probe(port)) && unserved.delete(port)));
          if (now() - at > 120_000) throw new Error(`${unserved.size} of the 199 new ports are not served 120 s after the PUT`);
          if (unserved.size > 0) await sleep(50);
        }
        servedAll.push(now() - at);
        console.log(`  1 -> ${bigEntries} entries: every new port accepting ${ms(walls.at(-1) ?? Number.NaN)} ms after the PUT's answer (handler's log: reload done at ${reloaded === undefined ? "-" : reloaded - wall} ms), every one served ${ms(servedAll.at(-1) ?? Number.NaN)} ms`);
        await sleep(1000);
      } finally {
        wrk.stop();
      }
      const exitCode = await wrk.done;
      const figures = parseWrk(wrk.output(), exitCode);
      const socketErrors = [...figures.socketErrors.matchAll(/(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
      requests += figures.requests;
      failed += figures.non2xx + socketErrors;
      wrkDetails.push(`non-2xx ${figures.non2xx}, socket errors: ${figures.socketErrors}`);
    }
    // The parts alone, on the 200-entry configuration HAProxy loads now.
    const check200: number[] = [];
    for (let sample = 0; sample < 3; sample += 1) check200.push(await timed("haproxy", ["-c", "-q", "-f", stack.mainFile, "-f", stack.portmapFile]));
    const reload200 = await masterReloadAlone(stack, 3);
    const bigSpec = new Map([["portmap", bigPortmap]]);
    const scratch = { configFile: join(directory, "scratch", "portmap.cfg"), mapDirectory: join(directory, "scratch", "maps") };
    let render200 = 0;
    let maps200 = 0;
    let mapFiles = 0;
    for (let sample = 0; sample < 10; sample += 1) {
      const renderStarted = now();
      const rendered = renderLoadBalancer(parsePortmapKv(bigSpec), { bindAddress: "127.0.0.1", certDirectory: "/nonexistent", mapDirectory: scratch.mapDirectory, dynamicCookieKey: "k" });
      const written = now();
      writeMaps(rendered, scratch);
      render200 += (written - renderStarted) / 10;
      maps200 += (now() - written) / 10;
      mapFiles = rendered.maps.size;
    }
    report({
      figure: `portmap 1 -> ${bigEntries} entries (${bigServices} services, slots:2, http and tcp) -> rendered, checked, reloaded: every new port accepting`,
      shape: `[master-worker HAProxy; wrk -t1 -c16 keep-alive on the listener already there; n=${walls.length}]`,
      target: "<= 2 s wall, 0 failed requests",
      measured: `${walls.length > 1 ? `p50 ${ms(p50(walls))} ms, max ` : ""}${ms(Math.max(...walls))} ms (handler's log: reload done ${list(handlerReloads)} ms); wrk: ${requests} requests, ${failed} failed (${wrkDetails.join("; ")})`,
      met: Math.max(...walls) <= 2000 && failed === 0,
    });
    report({
      figure: `the same: every one of the ${bigEntries - 1} new listeners served (slots filled, HAProxy's default checks passed)`,
      shape: `[n=${servedAll.length}]`,
      target: "(reference)",
      measured: `${list(servedAll)} ms`,
    });
    // And on the 1-entry configuration.
    await settle(stack, base, basePort);
    const check1: number[] = [];
    for (let sample = 0; sample < 3; sample += 1) check1.push(await timed("haproxy", ["-c", "-q", "-f", stack.mainFile, "-f", stack.portmapFile]));
    const reload1 = await masterReloadAlone(stack, 3);
    report({
      figure: "the parts alone: `haproxy -c` of the whole configuration / a master `reload` -> the new worker answers (handler paused) / the handler's parse + render and map files, in-process",
      shape: "[p50 of 3 each; parse, render and maps: mean of 10]",
      target: "(reference)",
      measured: `${bigEntries} entries: haproxy -c ${ms(p50(check200))} ms, reload ${ms(p50(reload200))} ms, parse + render ${ms(render200)} ms, writing its ${mapFiles} map files ${ms(maps200)} ms; 1 entry: haproxy -c ${ms(p50(check1))} ms, reload ${ms(p50(reload1))} ms`,
    });

    // HAProxy spreads a new worker's first checks over the smallest check
    // interval of 1 s or more among all its servers (2 s here), in the
    // servers' order; `max-spread-checks` in the global section bounds that.
    writeFileSync(stack.mainFile, readFileSync(stack.mainFile, "utf8").replace(/^global\n/, `global\n    max-spread-checks ${MAX_SPREAD_CHECKS}\n`));
    await masterReloadAlone(stack, 1);
    added.splice(1);
    const bounded = await listeners(`, max-spread-checks ${MAX_SPREAD_CHECKS}`, listenerSamples, fastEntry);
    report({
      figure: `the same with \`max-spread-checks ${MAX_SPREAD_CHECKS}\` in HAProxy's global section`,
      shape: `[hold-down on, inter:100ms,rise:1; n=${bounded.length}]`,
      target: "(reference)",
      measured: `p50 ${ms(p50(bounded.map((sample) => sample.served)))} ms, max ${ms(Math.max(...bounded.map((sample) => sample.served)))} ms; ${breakdown(bounded)}`,
    });

    // The handler without the hold-down: a filled slot serves at once, before HAProxy's first check.
    await stack.restartHandler(false);
    added.splice(1);
    const noHold = await listeners(", no hold-down", listenerSamples, fastEntry);
    report({
      figure: "the same without the hold-down (haproxy.holdDownUntilChecked: false): a filled slot serves before HAProxy's first check",
      shape: `[inter:100ms,rise:1; n=${noHold.length}]`,
      target: "(reference)",
      measured: `p50 ${ms(p50(noHold.map((sample) => sample.served)))} ms, max ${ms(Math.max(...noHold.map((sample) => sample.served)))} ms; ${breakdown(noHold)}`,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}${started ? `\nhandler log: ${started.cli.logs().slice(-1500)}` : ""}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
    for (const child of children) child.kill();
    rmSync(directory, { recursive: true, force: true });
  }
}

/** A master `reload` alone, with the handler paused: the server state saved, `reload`, until a new worker answers `show info`. */
async function masterReloadAlone(stack: Stack, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let sample = 0; sample < count; sample += 1) {
    await whileHandlerPaused(stack.cli, async () => {
      const before = await workerPid(stack.adminPort);
      const state = await cliCommand({ host: "127.0.0.1", port: stack.adminPort }, "show servers state");
      if (!state.startsWith("1\n")) throw new Error(`show servers state: ${state.slice(0, 200)}`);
      writeFileSync(stack.stateFile, state);
      const started = now();
      await cliCommand({ path: stack.masterSocket }, "reload");
      await waitUntil("a new worker after the master's reload", async () => {
        const pid = await workerPid(stack.adminPort);
        return pid !== undefined && pid !== before;
      }, 30_000, 2);
      times.push(now() - started);
    });
    // The handler sees the new worker and re-applies every slot.
    await sleep(1000);
  }
  return times;
}
