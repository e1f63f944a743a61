// Requests lost per HAProxy reload under wrk keep-alive load: ours (the
// handler keeps the slots file current; HAProxy loads it, restores states
// from its state file, and `option idle-close-on-response` lets old
// keep-alive connections finish) next to the consul-template style (the
// whole config rendered with explicit servers and HAProxy reloaded per
// change, stock defaults). Both run HAProxy in master-worker mode, as
// Debian's unit does; each reload waits for traffic through the new worker
// before the next.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMasterWorker, type MasterWorkerHaproxy } from "../test/harness/haproxy-master.js";
import { freePort, parseWrk, report, repositoryRoot, startCli, startConsul, startWrk, writeHandlerConfig, type RunningCli } from "./lib.js";
import { whileHandlerPaused } from "../test/harness/cli.js";

interface Scenario {
  label: string;
  requests: number;
  failed: number;
  detail: string;
  reloads: number;
  wrong: number;
}

const NODES = 4;

async function startNodes(): Promise<{ processes: ChildProcess[]; ports: number[] }> {
  const processes: ChildProcess[] = [];
  const ports: number[] = [];
  for (let index = 0; index < NODES; index += 1) {
    const port = await freePort();
    processes.push(spawn(process.execPath, [join(repositoryRoot, "demo/sample-node.mjs"), `n${index}`, String(port)], { stdio: "ignore" }));
    ports.push(port);
  }
  for (const port of ports) {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  return { processes, ports };
}

function mainConfig(adminPort: number, frontendPort: number, stateFile: string | undefined): string {
  return `global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
    stats timeout 30s
${stateFile ? `    server-state-file ${stateFile}\n` : ""}defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
${stateFile ? "    load-server-state-from-file global\n    option idle-close-on-response\n" : ""}frontend front
    bind 127.0.0.1:${frontendPort}
    default_backend be
`;
}

async function served(haproxy: MasterWorkerHaproxy): Promise<number> {
  const row = (await haproxy.admin.showStat()).find((candidate) => candidate.pxname === "be" && candidate.svname === "BACKEND");
  return Number(row?.["stot"] ?? 0);
}

async function trafficThroughCurrentWorker(haproxy: MasterWorkerHaproxy): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await served(haproxy).catch(() => 0)) < 200) {
    if (Date.now() > deadline) throw new Error("no traffic through HAProxy");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Reloads under wrk; also counts reloads after which a node was not in its
 * slot, UP. With a handler, it is paused over each reload and the read, so
 * the view is the new worker's own (from its files), not the handler's repair.
 */
async function underLoad(label: string, haproxy: MasterWorkerHaproxy, frontendPort: number, reloads: number, expected: () => Promise<string>, handler?: RunningCli): Promise<Scenario> {
  const want = await expected();
  const wrk = startWrk(["-t2", "-c32", "-d600s", `http://127.0.0.1:${frontendPort}/`]);
  let wrong = 0;
  await trafficThroughCurrentWorker(haproxy);
  const reloadAndRead = async (): Promise<string> => {
    await haproxy.reload();
    return expected();
  };
  for (let reload = 0; reload < reloads; reload += 1) {
    const seen = handler ? await whileHandlerPaused(handler, reloadAndRead) : await reloadAndRead();
    if (seen !== want) wrong += 1;
    await trafficThroughCurrentWorker(haproxy);
  }
  wrk.stop();
  const exitCode = await wrk.done;
  const figures = parseWrk(wrk.output(), exitCode);
  if (process.env["CHB_RELOAD_DEBUG"]) console.log(wrk.output());
  const socketErrors = [...figures.socketErrors.matchAll(/(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  return { label, requests: figures.requests, failed: figures.non2xx + socketErrors, detail: `non-2xx ${figures.non2xx}, socket errors: ${figures.socketErrors}`, reloads, wrong };
}

function slotView(haproxy: MasterWorkerHaproxy): () => Promise<string> {
  return async () =>
    (await haproxy.admin.showStat())
      .filter((row) => row.pxname === "be" && row.svname !== "BACKEND" && row["status"] !== "MAINT" && !(row["addr"] ?? "").startsWith("0.0.0.0"))
      .map((row) => `${row.svname}=${row["addr"] ?? ""}:${(row["status"] ?? "").split(" ")[0] ?? ""}:${row["weight"] ?? ""}`)
      .join(" ");
}

async function ours(ports: number[], reloads: number): Promise<Scenario> {
  const directory = mkdtempSync(join(tmpdir(), "chb-reload-"));
  const consul = await startConsul();
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const main = join(directory, "haproxy.cfg");
  const template = join(directory, "slots.cfg.in");
  const output = join(directory, "slots.cfg");
  writeFileSync(main, mainConfig(adminPort, frontendPort, join(directory, "state")));
  writeFileSync(template, "backend be\n    balance roundrobin\n    server-template srv 1-10 0.0.0.0:80 check inter 1s rise 2 fall 2 disabled init-addr none\n");
  copyFileSync(template, output);
  const haproxy = await startMasterWorker({ configFiles: [main, output], masterSocket: join(directory, "master.sock"), adminAddress: `127.0.0.1:${adminPort}`, stateFile: join(directory, "state") });
  const configFile = writeHandlerConfig({
    consul: { address: consul.address },
    haproxy: { socket: `127.0.0.1:${adminPort}`, slotsFile: { template, output } },
    services: [{ name: "svc", backend: "be", slotPrefix: "srv" }],
  });
  const cli = startCli(["--config", configFile, "run"]);
  try {
    for (const [index, port] of ports.entries()) {
      await consul.register({ ID: `n${index}`, Name: "svc", Address: "127.0.0.1", Port: port, Meta: { haproxy_weight: String(index + 1) }, Check: { CheckID: `ttl-n${index}`, TTL: "1h", Status: "passing" } });
    }
    const view = slotView(haproxy);
    const deadline = Date.now() + 30_000;
    while ((await view()).split(":UP:").length - 1 < ports.length) {
      if (Date.now() > deadline) throw new Error("nodes not UP");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return await underLoad("ours: slots file + state file + idle-close-on-response", haproxy, frontendPort, reloads, view, cli);
  } finally {
    await cli.stop();
    await haproxy.stop();
    await consul.cleanup();
  }
}

async function consulTemplateStyle(ports: number[], reloads: number): Promise<Scenario> {
  const directory = mkdtempSync(join(tmpdir(), "chb-reload-ct-"));
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const main = join(directory, "haproxy.cfg");
  const servers = ports.map((port, index) => `    server n${index} 127.0.0.1:${port} check inter 1s rise 2 fall 2 weight ${index + 1}`).join("\n");
  writeFileSync(main, `${mainConfig(adminPort, frontendPort, undefined)}backend be\n    balance roundrobin\n${servers}\n`);
  const haproxy = await startMasterWorker({ configFiles: [main], masterSocket: join(directory, "master.sock"), adminAddress: `127.0.0.1:${adminPort}`, stateFile: join(directory, "state") });
  try {
    return await underLoad("consul-template style: config rendered, reload per change", haproxy, frontendPort, reloads, slotView(haproxy));
  } finally {
    await haproxy.stop();
  }
}

export async function reloadBenchmark(quick: boolean): Promise<void> {
  const reloads = quick ? 5 : 20;
  const nodes = await startNodes();
  try {
    for (const run of [ours, consulTemplateStyle]) {
      const result = await run(nodes.ports, reloads);
      const isOurs = run === ours;
      report({
        figure: `HAProxy reloads under load, ${result.label}: requests lost per reload`,
        shape: `[master-worker HAProxy, 1 backend x ${isOurs ? "10 template slots" : `${NODES} servers`}, check inter 1s; wrk -t2 -c32 keep-alive; ${result.reloads} reloads; ${NODES} nodes]`,
        target: isOurs ? "0 lost, every node in its slot UP after each reload" : "(anchor)",
        measured: `${result.requests} requests, ${result.failed} failed (${(result.failed / result.reloads).toFixed(1)} per reload; ${result.detail}); reloads after which a node was not in its slot UP: ${result.wrong}`,
        ...(isOurs ? { met: result.failed === 0 && result.wrong === 0 } : {}),
      });
    }
  } finally {
    for (const child of nodes.processes) child.kill();
  }
}
