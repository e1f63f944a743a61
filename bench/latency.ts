// Change -> applied latency of `run`, seen from outside, next to HAProxy's
// own DNS discovery (`timeout resolve 100ms`) at the same instance count.
//
// A change is one of: a registration, a check going critical, a
// deregistration. The clock starts just before the HTTP call to Consul is
// sent (Consul wakes blocking queries when the change commits, before its
// reply to the call is back, so a clock started on the reply would miss that
// interval); the call's own time is reported beside the figures. The clock
// stops when HAProxy shows the change:
// - handler: the slot's own row (`show stat <backend> 4 <sid>`, polled every
//   1 ms on one connection): registered = the node's address in its slot and
//   out of MAINT (hold-down keeps it DOWN until HAProxy's own check passes);
//   critical = MAINT; deregistered = DRAIN (the node was UP: a DOWN server in
//   drain still reads DOWN). The slot a new node takes is the lowest free one
//   (the planner's rule), read before the registration.
// - DNS discovery: which slot HAProxy picks is not known, so its backend's
//   `show servers state` is polled every 1 ms: registered = a slot at the
//   node's address:port out of MAINT; critical and deregistered = none.
// Each change waits a random time first, so it lands at a random point of
// the DNS resolution period (and of the handler's timers).
import { spawn } from "node:child_process";
import {
  AdminSocket,
  cliCommand,
  freePort,
  inMaint,
  lowestFreeSlot,
  now,
  percentile,
  registerInstances,
  report,
  serverStates,
  sleep,
  startConsul,
  startHaproxy,
  startHandlerStack,
  startCli,
  startNodeListener,
  statRows,
  summary,
  untilBackend,
  untilRow,
  ms,
  type ConsulAgent,
  type HandlerStack,
  SHIPPED_CHECK_TIMINGS,
} from "./lib.js";

interface Samples {
  register: number[];
  critical: number[];
  deregister: number[];
  /** The change's own HTTP call to Consul, sent to answered: inside the figures above. */
  call: number[];
  /** Deregistrations first seen as already freed (MAINT), not DRAIN: their time is an upper bound. */
  seenFreed: number;
  /** DNS: changes HAProxy did not show within the sample timeout. */
  timeouts: number;
  /** Handler: nodes HAProxy's check did not bring UP in 20 s (deregistered unmeasured). */
  notUp: number;
}

const all = (samples: Samples): number[] => [...samples.register, ...samples.critical, ...samples.deregister];
const jitter = (upToMs: number) => sleep(Math.random() * upToMs);
const SAMPLE_TIMEOUT_MS = 10_000;

function emptySamples(): Samples {
  return { register: [], critical: [], deregister: [], call: [], seenFreed: 0, timeouts: 0, notUp: 0 };
}

/** Starts the clock, then makes the change in Consul; returns the start and keeps the call's own time. */
async function timedChange(samples: Samples, change: () => Promise<unknown>): Promise<number> {
  const start = now();
  await change();
  samples.call.push(now() - start);
  return start;
}

/** Background instances svc1 at 127.0.0.1:61000+i (catalog, passing; above the ephemeral ports the measured nodes listen on), `from` to `to`. */
async function background(consul: ConsulAgent, from: number, to: number): Promise<void> {
  await registerInstances(consul, to - from, (index) => ({ node: `bg-${from + index}`, address: "127.0.0.1", service: "svc1", id: `bg-${from + index}`, port: 61_000 + from + index }));
}

interface MeasuredNode {
  id: string;
  port: number;
  slot: number;
  close(): Promise<void>;
}

/**
 * How long Consul itself takes to answer the health read for this many
 * instances. A blocking query returns the whole service on every change, so
 * no watcher of it sees a change sooner: this is the floor under `run`'s
 * figure at that instance count, measured in the same run.
 */
async function reportConsulFloor(consul: ConsulAgent, instances: number): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const start = now();
    const response = await fetch(`${consul.address}/v1/health/service/svc1`);
    const body = await response.text();
    if (response.status !== 200) throw new Error(`Consul answered ${response.status} to the health read: ${body.slice(0, 200)}`);
    times.push(now() - start);
  }
  report({
    figure: `Consul's own answer to the health read (GET /v1/health/service, whole service; the floor of any blocking-query watcher), about ${instances} instances`,
    shape: "Consul dev agent on loopback, no HAProxy",
    target: "(reference)",
    measured: `p50 ${ms(percentile(times, 0.5))} ms, p99 ${ms(percentile(times, 0.99))} ms (n=${times.length})`,
  });
}

/** `run`: register n nodes one by one, fail and restore their checks, then deregister them, each change timed. */
async function handlerRound(stack: HandlerStack, label: string, n: number, mode: "run" | "watch" = "run"): Promise<Samples> {
  const samples = emptySamples();
  const nodes: MeasuredNode[] = [];
  const row = (node: MeasuredNode, done: (row: Record<string, string>) => boolean) => untilRow(stack.admin, "be1", node.slot, done, SAMPLE_TIMEOUT_MS);
  try {
    for (let i = 0; i < n; i += 1) {
      const listener = await startNodeListener();
      const slot = await lowestFreeSlot(stack.admin, "be1");
      const node = { id: `${label}-${i}`, port: listener.port, slot, close: listener.close };
      nodes.push(node);
      await jitter(20);
      const start = await timedChange(samples, () =>
        stack.consul.register({ ID: node.id, Name: "svc1", Address: "127.0.0.1", Port: node.port, Check: { CheckID: `ttl-${node.id}`, TTL: "1h", Status: "passing" } }),
      );
      samples.register.push((await row(node, (r) => r["addr"] === `127.0.0.1:${node.port}` && !(r["status"] ?? "").startsWith("MAINT"))) - start);
    }
    for (const node of nodes) {
      await jitter(20);
      const start = await timedChange(samples, () => stack.consul.api("PUT", `/v1/agent/check/fail/ttl-${node.id}`));
      samples.critical.push((await row(node, (r) => (r["status"] ?? "").startsWith("MAINT"))) - start);
    }
    for (const node of nodes) await stack.consul.api("PUT", `/v1/agent/check/pass/ttl-${node.id}`);
    // Deregister -> DRAIN is visible only on a node that is UP: wait for HAProxy's own checks (fastinter 1s, rise 2).
    const up = new Set<MeasuredNode>();
    for (const node of nodes) {
      const isUp = await untilRow(stack.admin, "be1", node.slot, (r) => r["status"] === "UP", 20_000).then(() => true, () => false);
      if (isUp) up.add(node);
    }
    samples.notUp = nodes.length - up.size;
    for (const node of nodes) {
      await jitter(20);
      if (!up.has(node)) {
        await stack.consul.deregister(node.id);
        continue;
      }
      const start = await timedChange(samples, () => stack.consul.deregister(node.id));
      let freed = false;
      const seen = await row(node, (r) => {
        freed = (r["status"] ?? "").startsWith("MAINT");
        return (r["status"] ?? "").startsWith("DRAIN") || freed;
      });
      if (freed) samples.seenFreed += 1;
      samples.deregister.push(seen - start);
    }
    // Drained slots are freed by a later reconcile (`watch` has none until the next change); the next round reads the lowest free slot.
    if (mode === "run") for (const node of nodes) await row(node, (r) => (r["status"] ?? "").startsWith("MAINT") && (r["addr"] ?? "").startsWith("0.0.0.0"));
  } finally {
    for (const node of nodes) await node.close();
  }
  return samples;
}

async function waitFilled(stack: HandlerStack, instances: number): Promise<void> {
  await untilBackend(stack.admin, "show servers state be1", serverStates, (rows) => rows.filter((state) => !inMaint(state) && state.address !== "0.0.0.0").length >= instances, 120_000, 50);
}

/** DNS discovery: one node at a time through register, critical and deregister. */
async function dnsRound(consul: ConsulAgent, admin: AdminSocket, label: string, n: number): Promise<Samples> {
  const samples = emptySamples();
  const inRotation = (port: number) => (rows: ReturnType<typeof serverStates>) => rows.some((state) => state.port === port && state.address === "127.0.0.1" && !inMaint(state));
  const until = (done: (rows: ReturnType<typeof serverStates>) => boolean) => untilBackend(admin, "show servers state be1", serverStates, done, SAMPLE_TIMEOUT_MS, 1);
  for (let i = 0; i < n; i += 1) {
    const port = 30_000 + i;
    const id = `${label}-${i}`;
    try {
      await jitter(100);
      let start = await timedChange(samples, () => consul.register({ ID: id, Name: "svc1", Address: "127.0.0.1", Port: port, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" } }));
      samples.register.push((await until(inRotation(port))) - start);
      await jitter(100);
      start = await timedChange(samples, () => consul.api("PUT", `/v1/agent/check/fail/ttl-${id}`));
      samples.critical.push((await until((rows) => !inRotation(port)(rows))) - start);
      await consul.api("PUT", `/v1/agent/check/pass/ttl-${id}`);
      await until(inRotation(port));
      await jitter(100);
      start = await timedChange(samples, () => consul.deregister(id));
      samples.deregister.push((await until((rows) => !inRotation(port)(rows))) - start);
    } catch {
      samples.timeouts += 1;
      await consul.deregister(id).catch(() => undefined);
    }
  }
  return samples;
}

function print(label: string, samples: Samples, dns = false): void {
  console.log(summary(`${label}, all changes`, all(samples)));
  console.log(`    ${summary("register -> in its slot, out of MAINT", samples.register)}`);
  console.log(`    ${summary(dns ? "check critical -> out of rotation" : "check critical -> MAINT", samples.critical)}`);
  console.log(`    ${summary(dns ? "deregister -> out of rotation" : "deregister -> DRAIN", samples.deregister)}${samples.seenFreed > 0 ? ` (${samples.seenFreed} first seen already freed)` : ""}`);
  console.log(`    ${summary("of which Consul's answer to the change's own HTTP call", samples.call)}`);
  if (samples.notUp > 0) console.log(`    ${samples.notUp} node(s) not UP by HAProxy's check within 20 s: their deregistration was not measured`);
  if (samples.timeouts > 0) console.log(`    ${samples.timeouts} node(s) not shown by HAProxy within ${SAMPLE_TIMEOUT_MS} ms (left out of the figures)`);
}

function reportLatency(figure: string, shape: string, samples: Samples): void {
  const values = all(samples);
  const p50 = percentile(values, 0.5);
  const p99 = percentile(values, 0.99);
  report({ figure, shape, target: "p50 <= 3 ms, p99 <= 15 ms", measured: `p50 ${ms(p50)} ms, p99 ${ms(p99)} ms (n=${values.length})${callTime(samples)}`, met: p50 <= 3 && p99 <= 15 });
}

/** The change's own HTTP call, which the figure includes, for the reader to set beside it. */
function callTime(samples: Samples): string {
  return samples.call.length === 0 ? "" : `; of which Consul's answer to the change's own call: p50 ${ms(percentile(samples.call, 0.5))} ms, p99 ${ms(percentile(samples.call, 0.99))} ms`;
}

function reportRatio(instances: number, handler: Samples, dns: Samples, shape: string): void {
  const handlerP50 = percentile(all(handler), 0.5);
  const dnsP50 = percentile(all(dns), 0.5);
  const ratio = dnsP50 / handlerP50;
  report({
    figure: `p50 ratio DNS discovery (timeout resolve 100ms) / run, ${instances} instances`,
    shape,
    target: ">= 10x",
    measured: `${ratio.toFixed(1)}x (DNS p50 ${ms(dnsP50)} ms, n=${all(dns).length}${dns.timeouts > 0 ? `, ${dns.timeouts} timed out` : ""}; run p50 ${ms(handlerP50)} ms)`,
    met: ratio >= 10 && dns.timeouts === 0,
  });
}

async function withRun<T>(stack: HandlerStack, work: () => Promise<T>): Promise<T> {
  const cli = startCli(["--config", stack.configFile, "run"]);
  try {
    return await work();
  } catch (error) {
    throw new Error(`${(error as Error).message}\nhandler log: ${cli.logs().slice(-1500)}`);
  } finally {
    await cli.stop();
  }
}

export async function latencyBenchmarks(quick: boolean): Promise<void> {
  const n = quick ? 10 : 40;

  // 1. 50 slots per backend: only the measured nodes.
  const small = await startHandlerStack({ slots: 50, shape: "shipped", drainSeconds: 30 });
  console.log(`run, ${small.shape}, up to ${n} instances`);
  try {
    await withRun(small, async () => {
      await handlerRound(small, "warm", 2);
      const samples = await handlerRound(small, "s50", n);
      print("run, 50 slots per backend", samples);
      reportLatency("run: change -> applied, 50 slots per backend", `${small.shape}, up to ${n} instances`, samples);
    });
  } finally {
    await small.stop();
  }

  // 2. 2,000 slots per backend, with 50 and then 1,000 instances beside the measured ones.
  const large = await startHandlerStack({ slots: 2000, shape: "shipped", drainSeconds: 30 });
  const handlerAt = new Map<number, Samples>();
  try {
    await withRun(large, async () => {
      for (const instances of [50, 1000]) {
        await background(large.consul, instances === 50 ? 0 : 50, instances);
        await waitFilled(large, instances);
        await handlerRound(large, `warm${instances}`, 2);
        const samples = await handlerRound(large, `l${instances}`, n);
        handlerAt.set(instances, samples);
        const shape = `${large.shape}, ${instances} instances (+ up to ${n} measured)`;
        print(`run, 2000 slots per backend, ${instances} instances`, samples);
        await reportConsulFloor(large.consul, instances + n);
        if (instances === 1000) {
          reportLatency("run: change -> applied, 2000 slots per backend", shape, samples);
          const p99 = percentile(samples.deregister, 0.99);
          report({ figure: "run: deregister -> DRAIN, 2000 slots per backend", shape, target: "p99 <= 15 ms", measured: `p99 ${ms(p99)} ms (n=${samples.deregister.length}${samples.seenFreed ? `, ${samples.seenFreed} seen freed` : ""})`, met: p99 <= 15 });
        } else {
          report({ figure: "run: change -> applied, 2000 slots per backend, 50 instances", shape, target: "(for the ratio)", measured: `p50 ${ms(percentile(all(samples), 0.5))} ms, p99 ${ms(percentile(all(samples), 0.99))} ms (n=${all(samples).length})${callTime(samples)}` });
        }
      }
    });
  } finally {
    await large.stop();
  }

  // 3. HAProxy's DNS discovery at the same instance counts.
  const consul = await startConsul();
  const adminPort = await freePort();
  const slots = 1000 + n + 50;
  const dnsShape = `[DNS shape: 1 backend x ${slots} server-template slots resolved from Consul's DNS (SRV over TCP), no checks]`;
  const haproxy = await startHaproxy({
    adminPort,
    config: `global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
    stats timeout 10m
resolvers consul
    nameserver consul tcp@127.0.0.1:${consul.dnsPort}
    accepted_payload_size 65535
    timeout resolve 100ms
    hold valid 10s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be1
    balance roundrobin
    server-template dns 1-${slots} _svc1._tcp.service.consul resolvers consul resolve-opts allow-dup-ip init-addr none
`,
  });
  const admin = new AdminSocket(adminPort);
  try {
    for (const instances of [50, 1000]) {
      await background(consul, instances === 50 ? 0 : 50, instances);
      await untilBackend(admin, "show servers state be1", serverStates, (rows) => rows.filter((state) => !inMaint(state) && state.address === "127.0.0.1").length >= instances, 120_000, 50).catch(() => undefined);
      const inRotation = serverStates(await admin.query("show servers state be1")).filter((state) => !inMaint(state) && state.address === "127.0.0.1").length;
      await dnsRound(consul, admin, `dwarm${instances}`, 2);
      const samples = await dnsRound(consul, admin, `d${instances}`, n);
      const shape = `${dnsShape}, ${instances} instances (+1 measured; ${inRotation} in rotation before)`;
      print(`HAProxy DNS discovery, timeout resolve 100ms, ${instances} instances`, samples, true);
      report({ figure: `HAProxy DNS discovery (timeout resolve 100ms): change -> applied, ${instances} instances`, shape, target: "(reference)", measured: `p50 ${ms(percentile(all(samples), 0.5))} ms, p99 ${ms(percentile(all(samples), 0.99))} ms (n=${all(samples).length}${samples.timeouts > 0 ? `, ${samples.timeouts} timed out` : ""})${callTime(samples)}` });
      const handler = handlerAt.get(instances);
      if (handler) reportRatio(instances, handler, samples, `(run: ${large.shape}; DNS: 1 backend x ${slots} DNS slots; ${instances} instances each)`);
    }
  } finally {
    admin.close();
    await haproxy.stop();
    await consul.cleanup();
  }
}

/** `watch` mode (a real `consul watch` running the CLI per change): a reference figure, full runs only. */
export async function watchBenchmark(quick: boolean): Promise<void> {
  const stack = await startHandlerStack({ slots: 50, shape: "shipped", drainSeconds: 30 });
  const handler = [...cliCommand(), "--config", stack.configFile, "watch"].map((part) => `'${part}'`).join(" ");
  const watch = spawn("consul", ["watch", `-http-addr=${stack.consul.address.replace("http://", "")}`, "-type=service", "-service=svc1", handler], { stdio: "ignore" });
  try {
    // `consul watch` runs the handler once at its start; the first round's warm-up covers it.
    await handlerRound(stack, "wwarm", 1, "watch");
    const samples = await handlerRound(stack, "w", quick ? 5 : 20, "watch");
    print("watch, 50 slots per backend", samples);
    report({ figure: "watch (consul watch running the CLI): change -> applied", shape: stack.shape, target: "p99 <= 300 ms", measured: `p50 ${ms(percentile(all(samples), 0.5))} ms, p99 ${ms(percentile(all(samples), 0.99))} ms (n=${all(samples).length})${callTime(samples)}`, met: percentile(all(samples), 0.99) <= 300 });
  } finally {
    watch.kill("SIGTERM");
    await stack.stop();
  }
}

/**
 * Consul passing -> UP (taking traffic) with the hold-down on: the handler
 * fills a slot within milliseconds, then HAProxy's own checks decide (a first
 * check, then `rise` - 1 more at `fastinter`). A slot in MAINT has its check
 * task paused, and a paused task is rescheduled every `inter` (src/check.c,
 * process_chk_conn, label `reschedule`): the first check comes at that
 * slot's next tick, anywhere within `inter` of the fill. No runtime command
 * brings it forward on 2.6, 3.0 or 3.2 (README, "Hold-down"). So each
 * registration waits a random time up to the `inter` given here, and four
 * streams run side by side (each node in its own slot, found by its
 * address), the whole backend's rows polled every 5 ms.
 */
async function passingToUp(stack: HandlerStack, label: string, n: number, interMs: number): Promise<number[]> {
  const times: number[] = [];
  const waiting = new Map<string, (at: number) => void>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const at = now();
      for (const row of statRows(await stack.admin.query("show stat be1 4 -1"))) {
        if (row["status"] !== "UP") continue;
        const done = waiting.get(row["addr"] ?? "");
        if (done) {
          waiting.delete(row["addr"] ?? "");
          done(at);
        }
      }
      await sleep(5);
    }
  })();
  const stream = async (streamIndex: number, count: number) => {
    for (let i = 0; i < count; i += 1) {
      const listener = await startNodeListener();
      const id = `${label}-${streamIndex}-${i}`;
      try {
        await jitter(interMs);
        const up = new Promise<number>((resolve) => waiting.set(`127.0.0.1:${listener.port}`, resolve));
        const start = now();
        await stack.consul.register({ ID: id, Name: "svc1", Address: "127.0.0.1", Port: listener.port, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" } });
        const at = await Promise.race([up, sleep(30_000).then(() => undefined)]);
        if (at === undefined) throw new Error(`${id} not UP within 30 s of its registration`);
        times.push(at - start);
      } finally {
        waiting.delete(`127.0.0.1:${listener.port}`);
        await stack.consul.deregister(id).catch(() => undefined);
        await listener.close();
      }
    }
  };
  try {
    const streams = 4;
    await Promise.all(Array.from({ length: streams }, (_, index) => stream(index, Math.ceil(n / streams))));
  } finally {
    polling = false;
    await poller;
  }
  return times;
}

/** One interval of a `default-server` line's timings, in ms (e.g. "inter 5s ..." -> 5000). */
function intervalOf(timings: string, name: "inter" | "downinter"): number {
  const match = new RegExp(`(?:^| )${name} (\\d+)(ms|s)\\b`).exec(timings);
  if (!match) throw new Error(`no ${name} in ${timings}`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : 1);
}

/**
 * `--only firstcheck`: Consul passing -> UP with the playbook's check timings
 * (the figure issue #20 targets), and for comparison with other timings:
 * CHH_BENCH_CHECK_TIMINGS (`;`-separated default-server timings) adds shapes.
 */
export async function firstCheckBenchmark(quick: boolean): Promise<void> {
  const n = quick ? 40 : 120;
  const extra = (process.env.CHH_BENCH_CHECK_TIMINGS ?? "").split(";").map((timings) => timings.trim()).filter((timings) => timings !== "");
  for (const timings of [SHIPPED_CHECK_TIMINGS, ...extra]) {
    const stack = await startHandlerStack({ slots: 50, shape: "shipped", checkTimings: timings, drainSeconds: 1, resyncSeconds: 2 });
    console.log(`Consul passing -> UP, ${stack.shape}, ${n} registrations`);
    try {
      await withRun(stack, async () => {
        // A fresh HAProxy spreads the slots' first check ticks over downinter
        // (src/check.c start_check_task); past that, ticks are `inter` apart,
        // as on a load balancer that has been up a while.
        await sleep(intervalOf(timings, "downinter") + 500);
        await passingToUp(stack, "fcwarm", 4, 100);
        const times = await passingToUp(stack, "fc", n, intervalOf(timings, "inter"));
        console.log(`    ${summary("Consul passing -> UP", times)}`);
        const p50 = percentile(times, 0.5);
        const p99 = percentile(times, 0.99);
        report({
          figure: "Consul passing -> UP (hold-down on: HAProxy's own check brings it UP)",
          shape: `${stack.shape}, 50 slots per backend, registrations at random points of inter`,
          target: "p50 <= 1.5 s, p99 <= 2.5 s",
          measured: `p50 ${ms(p50)} ms, p99 ${ms(p99)} ms, max ${ms(Math.max(...times))} ms (n=${times.length})`,
          met: p50 <= 1500 && p99 <= 2500,
        });
      });
    } finally {
      await stack.stop();
    }
  }
}
