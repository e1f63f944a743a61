// 10,000 instances (5 services x 2,000) in the shipped shape (10 backends x
// 2,000 slots): the CPU and memory of the `run` process itself, read from
// /proc (utime + stime, 10 ms ticks), so every figure includes everything
// the process does for it: Consul's HTTP answers and their JSON parse,
// validation, reading and parsing HAProxy's state, planning, the commands
// and their replies, logging and garbage collection.
// The instances have the playbook's default settings (no Meta: default
// backend only, weight 1, no maxconn); the PoW backends stay empty but are
// read and planned like the others.
import { cpuMillis, freePort, inMaint, metricTotal, ms, now, percentile, registerInstances, report, rssMegabytes, serverStates, sleep, startCli, startHandlerStack, untilBackend, untilRow, waitUntil, type HandlerStack, type RunningCli } from "./lib.js";

const SERVICES = 5;
const PER_SERVICE = 2000;

async function everyInstanceFilled(stack: HandlerStack, timeoutMs: number): Promise<number> {
  let at = 0;
  for (const backend of stack.backendNames) {
    at = await untilBackend(stack.admin, `show servers state ${backend}`, serverStates, (rows) => rows.filter((state) => !inMaint(state) && state.address.startsWith("127.")).length === PER_SERVICE, timeoutMs, 20);
  }
  return at;
}

function pidOf(cli: RunningCli): number {
  const pid = cli.child.pid;
  if (pid === undefined) throw new Error(`the handler did not start: ${cli.logs()}`);
  return pid;
}

/** JSON.parse of svc1's whole health answer (what one change hands `run`), in this process: p50 of 20. */
async function parseCost(stack: HandlerStack): Promise<{ bytes: number; p50: number }> {
  const body = await (await fetch(`${stack.consul.address}/v1/health/service/svc1`)).text();
  const times: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const start = now();
    const parsed: unknown = JSON.parse(body);
    times.push(now() - start);
    if (!Array.isArray(parsed) || parsed.length < PER_SERVICE) throw new Error(`svc1's answer has ${Array.isArray(parsed) ? parsed.length : "no"} entries`);
  }
  return { bytes: Buffer.byteLength(body), p50: percentile(times, 0.5) };
}

export async function scaleBenchmark(quick: boolean): Promise<void> {
  const listen = `127.0.0.1:${await freePort()}`;
  const stack = await startHandlerStack({ slots: PER_SERVICE, powSlots: 50, services: SERVICES, shape: "shipped", listen });
  const shape = `${stack.shape}, ${SERVICES * PER_SERVICE} instances (${PER_SERVICE} per service, default backend only)`;
  console.log(`scale, ${shape}`);
  let cli: RunningCli | undefined;
  try {
    await registerInstances(stack.consul, SERVICES * PER_SERVICE, (index) => {
      const service = Math.floor(index / PER_SERVICE) + 1;
      const n = index % PER_SERVICE;
      return { node: `ext-${service}-${n}`, address: `127.${service}.${Math.floor(n / 250)}.${(n % 250) + 1}`, service: `svc${service}`, id: `svc${service}-${n}`, port: 14265 };
    });

    // A cold start: the process boots, reads everything and fills every slot.
    const spawned = now();
    cli = startCli(["--config", stack.configFile, "run"]);
    const pid = pidOf(cli);
    const coldFilled = await everyInstanceFilled(stack, 180_000);
    const coldCpu = cpuMillis(pid);
    console.log(`  cold start to every slot filled: ${ms(coldFilled - spawned)} ms wall, ${coldCpu} ms CPU (Node's start and module loading included)`);
    await sleep(1000);

    // First fill in a running process: HAProxy restarted empty, the handler notices (its 200 ms Pid poll) and refills.
    const beforeFill = cpuMillis(pid);
    const restarted = now();
    await stack.haproxy.restart();
    const refilled = await everyInstanceFilled(stack, 180_000);
    const fillCpu = cpuMillis(pid) - beforeFill;
    report({
      figure: "10,000 instances: first fill (every slot empty: full read of HAProxy and Consul, plan, the fill commands)",
      shape,
      target: "<= 300 ms CPU",
      measured: `${fillCpu} ms CPU (${ms(refilled - restarted)} ms wall from the restart; cold start of the process: ${coldCpu} ms CPU)`,
      met: fillCpu <= 300,
    });

    // One change, 100 times: one instance's weight, in the blocking-query answer of its service (2,000 instances).
    const slot = serverStates(await stack.admin.query("show servers state be1")).find((state) => state.address === "127.1.0.1");
    if (!slot) throw new Error("instance svc1-0 (127.1.0.1) has no slot in be1");
    await sleep(500);
    const changes = 100;
    const beforeChanges = cpuMillis(pid);
    for (let change = 0; change < changes; change += 1) {
      const weight = String(2 + (change % 100));
      const response = await stack.consul.api("PUT", "/v1/catalog/register", { Node: "ext-1-0", Address: "127.1.0.1", Service: { ID: "svc1-0", Service: "svc1", Port: 14265, Meta: { haproxy_weight: weight } } });
      if (response.status !== 200) throw new Error(`catalog register failed: ${JSON.stringify(response.json)}`);
      await untilRow(stack.admin, "be1", slot.id, (row) => row["uweight"] === weight, 30_000);
    }
    const perChange = (cpuMillis(pid) - beforeChanges) / changes;
    // The issue's alternative bound, measured in the same run: JSON.parse of that service's answer alone.
    const parse = await parseCost(stack);
    report({
      figure: "10,000 instances: one change in run (CPU per change, over 100)",
      shape,
      target: "<= 10 ms CPU, or <= 1.5x JSON.parse of the service's answer",
      measured: `${ms(perChange)} ms CPU (includes Consul's blocking-query answer for that service, 2,000 instances, and its JSON parse); JSON.parse of that answer alone (${(parse.bytes / 1e6).toFixed(1)} MB): p50 ${ms(parse.p50)} ms, so ${(perChange / parse.p50).toFixed(1)}x`,
      met: perChange <= 10 || perChange <= 1.5 * parse.p50,
    });
    const rss = rssMegabytes(pid);
    report({ figure: "10,000 instances: run's RSS after 100 changes", shape, target: "<= 120 MB", measured: `${rss.toFixed(0)} MB`, met: rss <= 120 });
    await cli.stop();
    cli = undefined;

    // A no-change resync: a `run` with resyncSeconds 1 over a quiet window; reconciles counted by its /metrics.
    cli = startCli(["--config", stack.handlerConfig({ resyncSeconds: 1, listen }), "run"]);
    const resyncPid = pidOf(cli);
    await waitUntil("the resyncing handler's first reconciles", async () => (await metricTotal(listen, "reconciles_total").catch(() => 0)) >= 3, 60_000, 100);
    const windowMs = quick ? 5000 : 15_000;
    // Only ok reconciles that applied no change count as no-change resyncs;
    // failed and skipped ones are counted apart (their CPU is still in the
    // window, so they make the figure worse, never better).
    const counters = async () => ({
      all: await metricTotal(listen, "reconciles_total"),
      ok: await metricTotal(listen, 'reconciles_total{result="ok"}'),
      changes: await metricTotal(listen, "change_to_applied_seconds_count"),
    });
    const beforeCpu = cpuMillis(resyncPid);
    const before = await counters();
    await sleep(windowMs);
    const after = await counters();
    const cpu = cpuMillis(resyncPid) - beforeCpu;
    const resyncs = after.ok - before.ok;
    const notOk = after.all - before.all - resyncs;
    const changesApplied = after.changes - before.changes;
    const perResync = cpu / Math.max(1, resyncs);
    report({
      figure: "10,000 instances: a no-change resync (fresh Consul reads, full HAProxy read, plan, 0 commands)",
      shape,
      target: "<= 150 ms CPU",
      measured: `${ms(perResync)} ms CPU (${resyncs} ok resyncs in ${windowMs / 1000} s, the 200 ms Pid poll included; ${notOk} failed or skipped, ${changesApplied} changes applied in the window)`,
      met: resyncs > 0 && changesApplied === 0 && perResync <= 150,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}${cli ? `\nhandler log: ${cli.logs().slice(-1500)}` : ""}`);
  } finally {
    await cli?.stop();
    await stack.stop();
  }
}
