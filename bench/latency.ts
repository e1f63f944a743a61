// Benchmark 1 and 5: change -> applied latency.
// A change is a Consul register, a check going critical, or a deregister;
// "applied" is the slot in its new state in `show stat`, polled back to back
// on the admin socket. The clock starts when Consul's HTTP call has returned.
// "Applied" is the admin state and address (the same criterion for HAProxy's
// DNS discovery): the handler's part. In the shipped shape (checks on,
// hold-down on) HAProxy's own check then decides when traffic flows.
import { spawn } from "node:child_process";
import {
  cliCommand,
  freePort,
  inRotation,
  now,
  startCli,
  startConsul,
  startHaproxy,
  startHandlerStack,
  StatPoller,
  percentile,
  summary,
  type ConsulAgent,
  type Shape,
} from "./lib.js";
import { RuntimeApiClient } from "../handler/haproxy-runtime-api/index.js";

interface LatencyResult {
  label: string;
  register: number[];
  critical: number[];
  deregister: number[];
}

function all(result: LatencyResult): number[] {
  return [...result.register, ...result.critical, ...result.deregister];
}

/** Register, fail the check, deregister: `nodes` times, measuring each step. */
/**
 * Each change waits a random 0..jitterMs first, so it lands at a random point
 * of a polling cycle (DNS discovery re-resolves every `timeout resolve`);
 * without it every change would start right after the last resolution.
 */
async function jitter(jitterMs: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * jitterMs));
}

async function churnAndMeasure(label: string, consul: ConsulAgent, poller: StatPoller, backend: string, service: string, nodes: number, withCritical: boolean, jitterMs = 50): Promise<LatencyResult> {
  const result: LatencyResult = { label, register: [], critical: [], deregister: [] };
  // One instance stays registered throughout, as in any real service: with no
  // instance at all Consul's DNS answers NXDOMAIN, which HAProxy holds for
  // `hold nx` (30 s) instead of removing the last server.
  await consul.register({ ID: `${service}-anchor`, Name: service, Address: "127.0.0.1", Port: 29999 });
  for (let i = 0; i < nodes; i += 1) {
    const port = 30000 + i;
    const address = `127.0.0.1:${port}`;
    const id = `${service}-${i}`;
    await jitter(jitterMs);
    await consul.register({ ID: id, Name: service, Address: "127.0.0.1", Port: port, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" } });
    let start = now();
    result.register.push((await poller.untilState(backend, (rows) => inRotation(rows, address))) - start);
    if (withCritical) {
      await jitter(jitterMs);
      await consul.api("PUT", `/v1/agent/check/fail/ttl-${id}`);
      start = now();
      result.critical.push((await poller.untilState(backend, (rows) => !inRotation(rows, address))) - start);
      await consul.api("PUT", `/v1/agent/check/pass/ttl-${id}`);
      await poller.untilState(backend, (rows) => inRotation(rows, address));
    }
    await jitter(jitterMs);
    await consul.deregister(id);
    start = now();
    result.deregister.push((await poller.untilState(backend, (rows) => !inRotation(rows, address))) - start);
  }
  return result;
}

async function handlerLatency(mode: "run" | "watch", nodes: number, shape: Shape): Promise<LatencyResult> {
  const stack = await startHandlerStack({ slots: 50, drainSeconds: 0, shape });
  const poller = new StatPoller(stack.admin);
  let stopHandler: () => Promise<void>;
  if (mode === "run") {
    const cli = startCli(["--config", stack.configFile, "run"]);
    stopHandler = async () => void (await cli.stop());
  } else {
    // A real Consul watch: `consul watch` runs its argument through a shell on every change.
    const handler = [...cliCommand(), "--config", stack.configFile, "watch"].map((part) => `'${part}'`).join(" ");
    const watch = spawn("consul", ["watch", `-http-addr=${stack.consul.address.replace("http://", "")}`, "-type=service", "-service=svc1", handler], { stdio: "ignore" });
    stopHandler = async () => {
      watch.kill("SIGTERM");
      await new Promise((resolve) => watch.once("exit", resolve));
    };
  }
  // Warm up: the first change also pays the handler's start.
  await churnAndMeasure("warm-up", stack.consul, poller, "be1", "svc1", 2, false);
  const result = await churnAndMeasure(`${stack.shape} handler ${mode}`, stack.consul, poller, "be1", "svc1", nodes, true);
  await stopHandler();
  await stack.stop();
  return result;
}

async function dnsLatency(timeoutResolve: string | undefined, nodes: number): Promise<LatencyResult> {
  const consul = await startConsul();
  const adminPort = await freePort();
  const config = `
global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
resolvers consul
    nameserver consul tcp@127.0.0.1:${consul.dnsPort}
    accepted_payload_size 8192
${timeoutResolve ? `    timeout resolve ${timeoutResolve}` : ""}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be1
    balance roundrobin
    server-template dns 1-50 _svc1._tcp.service.consul resolvers consul resolve-opts allow-dup-ip init-addr none
`;
  const haproxy = await startHaproxy({ config, adminPort });
  const poller = new StatPoller(new RuntimeApiClient(`127.0.0.1:${adminPort}`));
  await churnAndMeasure("warm-up", consul, poller, "be1", "svc1", 2, false);
  const period = timeoutResolve === "100ms" ? 100 : 1000;
  const result = await churnAndMeasure(`[DNS shape: 1 backend x 50 server-template slots, no checks] HAProxy DNS discovery, timeout resolve ${timeoutResolve ?? "1s (default)"}`, consul, poller, "be1", "svc1", nodes, true, period);
  await haproxy.stop();
  await consul.cleanup();
  return result;
}

export async function latencyBenchmarks(quick: boolean): Promise<string[]> {
  // 3 changes per node: register, critical, deregister.
  const nodes = quick ? 20 : 70;
  const dnsNodes = quick ? 8 : 20;
  const lines: string[] = [];
  const results: LatencyResult[] = [];
  const measures = [
    () => handlerLatency("run", nodes, "easy"),
    () => dnsLatency("100ms", dnsNodes),
    () => handlerLatency("run", nodes, "shipped"),
    () => handlerLatency("watch", nodes, "easy"),
    () => handlerLatency("watch", nodes, "shipped"),
    () => dnsLatency(undefined, dnsNodes),
  ];
  for (const measure of measures) {
    const result = await measure();
    results.push(result);
    lines.push(summary(`${result.label}, all changes`, all(result)));
    lines.push(`    register ${summary("", result.register).slice(2)}`);
    if (result.critical.length > 0) lines.push(`    critical ${summary("", result.critical).slice(2)}`);
    lines.push(`    deregister ${summary("", result.deregister).slice(2)}`);
    console.log(lines.slice(-4).join("\n"));
  }
  // The same percentile as every printed p50 (nearest rank, lib.ts).
  const [runEasy, dns100, runShipped] = results;
  for (const run of [runEasy, runShipped]) {
    if (!run || !dns100) continue;
    const ratio = percentile(all(dns100), 0.5) / percentile(all(run), 0.5);
    lines.push(`p50 ratio, DNS discovery (timeout resolve 100ms) / ${run.label}: ${ratio.toFixed(1)}x (target >= 8x)`);
    console.log(lines.at(-1));
  }
  return lines;
}
