// A long churn at scale: 10,000 instances (5 services x 2,000) in the shipped
// shape, `run` following Consul while the catalog changes without pause for
// `--minutes` (default 30; 3 with --quick). Every ~100 ms one instance is
// replaced (deregistered, and registered again at another address), has its
// weight changed, or fails its health check (at most 20 at once: then the
// oldest failed one recovers instead).
// The `run` process's RSS and open descriptors are sampled every 10 s from
// /proc; the figures compare the start of the churn with its end, each a
// median over a window, because V8's heap breathes between collections and
// one sample says little; V8's heap in use (the handler's /metrics) is
// sampled beside, its lowest sample per window being the nearest to what is
// still referenced after a collection.
//   make bench BENCH="--only longchurn --minutes 30"
// At the end the handler must still follow Consul: every backend's filled
// slots hold exactly the instances Consul lists as passing.
import { readdirSync } from "node:fs";
import { prng } from "../test/soak/schedule.js";
import { freePort, inMaint, metricTotal, ms, now, percentile, registerInstances, privateMegabytes, report, rssMegabytes, serverStates, sleep, startCli, startHandlerStack, waitUntil, type HandlerStack, type RunningCli } from "./lib.js";

const SERVICES = 5;
const PER_SERVICE = 2000;
/** Slots per default backend: a replaced instance's old slot drains while its new one fills. */
const SLOTS = 2100;
const SAMPLE_EVERY_MS = 10_000;
const CHANGE_EVERY_MS = 100;

interface Instance {
  service: number;
  index: number;
  generation: number;
  weight: number;
  critical: boolean;
}

interface Sample {
  atMinutes: number;
  rssMegabytes: number;
  /** RssAnon: where a leak of the process's own memory shows. */
  privateMegabytes: number;
  descriptors: number;
  /** V8's heap in use (prom-client's nodejs_heap_size_used_bytes), MB. */
  heapUsedMegabytes: number;
}

const nodeName = (instance: Instance) => `ext-${instance.service}-${instance.index}-g${instance.generation}`;
const serviceId = (instance: Instance) => `svc${instance.service}-${instance.index}-g${instance.generation}`;
/** Generations alternate between two address blocks of the service's /16. */
function address(instance: Instance): string {
  const block = (instance.generation % 2) * 10 + Math.floor(instance.index / 250);
  return `127.${instance.service}.${block}.${(instance.index % 250) + 1}`;
}

function minutesArgument(quick: boolean): number {
  const flag = process.argv.indexOf("--minutes");
  const minutes = flag > 0 ? Number(process.argv[flag + 1]) : quick ? 3 : 30;
  if (!Number.isFinite(minutes) || minutes < 2) throw new Error(`--minutes must be a number of at least 2 (got ${process.argv[flag + 1] ?? ""})`);
  return minutes;
}

async function put(stack: HandlerStack, path: string, body: unknown): Promise<void> {
  const response = await stack.consul.api("PUT", path, body);
  if (response.status !== 200) throw new Error(`PUT ${path} failed: ${response.status} ${JSON.stringify(response.json).slice(0, 300)}`);
}

function registration(instance: Instance): unknown {
  return {
    Node: nodeName(instance),
    Address: address(instance),
    Service: { ID: serviceId(instance), Service: `svc${instance.service}`, Port: 14265, Meta: { haproxy_weight: String(instance.weight) } },
    Check: { CheckID: `alive-${serviceId(instance)}`, Name: "alive", ServiceID: serviceId(instance), Status: instance.critical ? "critical" : "passing" },
  };
}

/** At most this many instances are critical at once: the churn keeps its shape for the whole run. */
const CRITICAL_AT_ONCE = 20;

/** One change to a random instance; returns what it was. `critical` holds the failed instances, oldest first. */
async function change(stack: HandlerStack, instances: Instance[], critical: Instance[], random: () => number): Promise<string> {
  const instance = instances[Math.floor(random() * instances.length)] as Instance;
  const roll = random();
  if (roll < 0.25) {
    await put(stack, "/v1/catalog/deregister", { Node: nodeName(instance) });
    instance.generation += 1;
    instance.critical = false;
    await put(stack, "/v1/catalog/register", registration(instance));
    return "replace";
  }
  if (roll < 0.5) {
    const recovering = critical.length >= CRITICAL_AT_ONCE ? critical.shift() : undefined;
    const flipped = recovering ?? instance;
    flipped.critical = recovering === undefined;
    if (flipped.critical) critical.push(flipped);
    await put(stack, "/v1/catalog/register", registration(flipped));
    return flipped.critical ? "failed" : "recovered";
  }
  instance.weight = 1 + (instance.weight % 100);
  await put(stack, "/v1/catalog/register", registration(instance));
  return "weight";
}

async function sample(pid: number, listen: string, startedAt: number): Promise<Sample> {
  const metrics = await (await fetch(`http://${listen}/metrics`)).text();
  const heapUsed = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1];
  if (heapUsed === undefined) throw new Error("the handler's /metrics has no nodejs_heap_size_used_bytes");
  return { atMinutes: (now() - startedAt) / 60_000, rssMegabytes: rssMegabytes(pid), privateMegabytes: privateMegabytes(pid), descriptors: readdirSync(`/proc/${pid}/fd`).length, heapUsedMegabytes: Number(heapUsed) / 2 ** 20 };
}

const median = (values: number[]) => percentile(values, 0.5);
/** 6 and 0.5, not 6.0 and 0.5 (minutes in a figure's name). */
const round = (minutes: number) => String(Number(minutes.toFixed(1)));

/** Every backend's filled slots (not in maintenance) hold exactly Consul's passing instances. */
async function followsConsul(stack: HandlerStack, instances: Instance[]): Promise<string | undefined> {
  for (let service = 1; service <= SERVICES; service += 1) {
    const wanted = new Set(instances.filter((instance) => instance.service === service && !instance.critical).map(address));
    const filled = serverStates(await stack.admin.query(`show servers state be${service}`)).filter((state) => !inMaint(state) && state.address.startsWith("127."));
    const have = new Set(filled.map((state) => state.address));
    const missing = [...wanted].filter((item) => !have.has(item));
    const extra = [...have].filter((item) => !wanted.has(item));
    if (missing.length > 0 || extra.length > 0) return `be${service}: ${missing.length} passing instances without a slot (${missing.slice(0, 3).join(", ")}), ${extra.length} slots Consul does not list as passing (${extra.slice(0, 3).join(", ")})`;
  }
  return undefined;
}

export async function longChurnBenchmark(quick: boolean): Promise<void> {
  const minutes = minutesArgument(quick);
  const listen = `127.0.0.1:${await freePort()}`;
  // drainSeconds 5: a replaced or failed instance's slot is free again soon, so 100 spare slots per backend suffice.
  const stack = await startHandlerStack({ slots: SLOTS, powSlots: 50, services: SERVICES, shape: "shipped", listen, drainSeconds: 5 });
  const shape = `${stack.shape}, ${SERVICES * PER_SERVICE} instances (${PER_SERVICE} per service), one change every ${CHANGE_EVERY_MS} ms for ${minutes} min`;
  console.log(`long churn, ${shape}`);
  let cli: RunningCli | undefined;
  try {
    const instances: Instance[] = Array.from({ length: SERVICES * PER_SERVICE }, (_, index) => ({ service: Math.floor(index / PER_SERVICE) + 1, index: index % PER_SERVICE, generation: 0, weight: 1, critical: false }));
    await registerInstances(stack.consul, instances.length, (index) => {
      const instance = instances[index] as Instance;
      return { node: nodeName(instance), address: address(instance), service: `svc${instance.service}`, id: serviceId(instance), port: 14265, meta: { haproxy_weight: "1" } };
    });
    cli = startCli(["--config", stack.configFile, "run"]);
    const pid = cli.child.pid;
    if (pid === undefined) throw new Error(`the handler did not start: ${cli.logs()}`);
    const running = cli;
    await waitUntil("every instance in a slot", async () => (await followsConsul(stack, instances)) === undefined, 180_000, 500);

    // A fixed seed (the soak's generator): the same changes in the same order on every run.
    const random = prng(20261207);
    const counts: Record<string, number> = {};
    const critical: Instance[] = [];
    const samples: Sample[] = [];
    const startedAt = now();
    const endAt = startedAt + minutes * 60_000;
    let nextSample = startedAt;
    let lagMs = 0;
    while (now() < endAt) {
      if (running.child.exitCode !== null) throw new Error(`the handler exited (${running.child.exitCode}) during the churn`);
      const tickAt = now();
      if (tickAt >= nextSample) {
        const taken = await sample(pid, listen, startedAt);
        samples.push(taken);
        console.log(`  [${taken.atMinutes.toFixed(1)} min] RSS ${taken.rssMegabytes.toFixed(1)} MB (private ${taken.privateMegabytes.toFixed(1)}), heap used ${taken.heapUsedMegabytes.toFixed(1)} MB, ${taken.descriptors} descriptors, ${Object.entries(counts).map(([kind, count]) => `${count} ${kind}`).join(", ")}`);
        nextSample += SAMPLE_EVERY_MS;
      }
      const kind = await change(stack, instances, critical, random);
      counts[kind] = (counts[kind] ?? 0) + 1;
      const spent = now() - tickAt;
      lagMs = Math.max(lagMs, spent);
      await sleep(Math.max(0, CHANGE_EVERY_MS - spent));
    }
    samples.push(await sample(pid, listen, startedAt));

    // The handler still follows Consul once the churn stops (drains last 5 s).
    const settledFrom = now();
    let divergence: string | undefined = "not checked yet";
    await waitUntil("the handler to follow Consul after the churn", async () => (divergence = await followsConsul(stack, instances)) === undefined, 60_000, 500).catch(() => {
      throw new Error(`after the churn HAProxy does not hold what Consul says: ${divergence}`);
    });
    const settledMs = now() - settledFrom;
    const failedReconciles = await metricTotal(listen, 'reconciles_total{result="failed"}');

    // Start: the first window after a minute's warm-up; end: the last window; each a fifth of the churn, at least 3 samples.
    const windowMinutes = Math.max(minutes / 5, 0.5);
    const startWindow = samples.filter((taken) => taken.atMinutes >= 1 && taken.atMinutes < 1 + windowMinutes);
    const endWindow = samples.filter((taken) => taken.atMinutes >= minutes - windowMinutes);
    const rssStart = median(startWindow.map((taken) => taken.rssMegabytes));
    const rssEnd = median(endWindow.map((taken) => taken.rssMegabytes));
    const rssMax = Math.max(...samples.map((taken) => taken.rssMegabytes));
    const growth = (rssEnd / rssStart - 1) * 100;
    const privateStart = median(startWindow.map((taken) => taken.privateMegabytes));
    const privateEnd = median(endWindow.map((taken) => taken.privateMegabytes));
    // The lowest heap sample of a window is the nearest to the heap after a collection: what is still referenced.
    const heapStart = Math.min(...startWindow.map((taken) => taken.heapUsedMegabytes));
    const heapEnd = Math.min(...endWindow.map((taken) => taken.heapUsedMegabytes));
    const descriptorsStart = median(startWindow.map((taken) => taken.descriptors));
    const descriptorsEnd = median(endWindow.map((taken) => taken.descriptors));
    const descriptorsMax = Math.max(...samples.map((taken) => taken.descriptors));
    const changes = Object.values(counts).reduce((sum, count) => sum + count, 0);
    const changed = `${changes} changes (${Object.entries(counts).map(([kind, count]) => `${count} ${kind}`).join(", ")}); longest change request ${ms(lagMs)} ms; ${failedReconciles} failed reconciles; HAProxy equal to Consul ${ms(settledMs)} ms after the last change`;
    console.log(`  ${changed}`);
    report({
      figure: `10,000 instances, ${minutes} min of churn: run's RSS (median of minutes 1-${round(1 + windowMinutes)} against the last ${round(windowMinutes)})`,
      shape,
      target: "< 10 % growth",
      measured: `${rssStart.toFixed(1)} MB -> ${rssEnd.toFixed(1)} MB (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} %; highest sample ${rssMax.toFixed(1)} MB); its private part ${privateStart.toFixed(1)} MB -> ${privateEnd.toFixed(1)} MB (${privateEnd >= privateStart ? "+" : ""}${((privateEnd / privateStart - 1) * 100).toFixed(1)} %); V8 heap in use, lowest sample of each window: ${heapStart.toFixed(1)} MB -> ${heapEnd.toFixed(1)} MB; ${changed}`,
      met: startWindow.length >= 3 && endWindow.length >= 3 && growth < 10,
    });
    report({
      figure: `10,000 instances, ${minutes} min of churn: run's open descriptors`,
      shape,
      target: "no growth",
      measured: `${descriptorsStart} -> ${descriptorsEnd} (medians; highest sample of the start window ${Math.max(...startWindow.map((taken) => taken.descriptors))}, of the run ${descriptorsMax})`,
      // A leak grows with the churn (thousands of changes); the count of a process that opens and closes
      // connections moves by one or two between samples. No growth: the end stays within the start's range.
      met: descriptorsEnd <= Math.max(...startWindow.map((taken) => taken.descriptors)),
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}${cli ? `\nhandler log: ${cli.logs().slice(-1500)}` : ""}`);
  } finally {
    await cli?.stop();
    await stack.stop();
  }
}
