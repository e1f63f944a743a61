// Benchmark 3: 10,000 instances across 5 services (2,000 each, one backend
// of 2,000 slots per service): one reconcile's CPU time and the handler's
// memory. Measured in-process on the real pipeline: Consul HTTP reads,
// validation, planning and the batched apply over the admin socket.
import { createContext, reconcile } from "../handler/reconcile/reconcile.js";
import { loadConfig } from "../handler/config/config.js";
import { createLogger } from "../handler/log.js";
import { readFileSync } from "node:fs";
import { inBatches, startCli, startHandlerStack, StatPoller, type Shape } from "./lib.js";

export async function scaleBenchmarks(quick: boolean): Promise<string[]> {
  return [...(await scaleOn("easy", quick)), ...(await scaleOn("shipped", quick))];
}

async function scaleOn(shape: Shape, quick: boolean): Promise<string[]> {
  const services = quick ? 2 : 5;
  const perService = 2000;
  const lines: string[] = [];
  const stack = await startHandlerStack({ slots: perService, services, shape });
  try {
    // Catalog registrations of external nodes: no agent checks, so every instance is passing.
    const ids = Array.from({ length: services * perService }, (_, index) => index);
    await inBatches(ids, 64, async (i) => {
      const service = Math.floor(i / perService) + 1;
      const n = i % perService;
      const response = await stack.consul.api("PUT", "/v1/catalog/register", {
        Node: `ext-${service}-${n}`,
        Address: `127.${service}.${Math.floor(n / 250)}.${(n % 250) + 1}`,
        Service: { ID: `svc${service}-${n}`, Service: `svc${service}`, Port: 14265, Meta: { haproxy_maxconn: "50" } },
      });
      if (response.status !== 200) throw new Error(`catalog register failed: ${JSON.stringify(response.json)}`);
    });
    const context = createContext(loadConfig(stack.configFile), createLogger("warn"));
    const measure = async (label: string) => {
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      const outcome = await reconcile(context);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      lines.push(`${stack.shape} ${label}: ${outcome.endpoints} instances, ${outcome.report?.commandsSent ?? 0} commands, ${cpuMs.toFixed(0)} ms CPU, ${wallMs.toFixed(0)} ms wall`);
      console.log(lines.at(-1));
    };
    await measure(`first reconcile (fill every slot, ${services} services)`);
    await measure("next reconcile (no change)");
    context.consul.close();

    // The handler's memory as a process: `run` on a fresh HAProxy state holding all of them.
    await stack.haproxy.restart();
    const cli = startCli(["--config", stack.configFile, "run"]);
    const poller = new StatPoller(stack.admin);
    for (const backend of stack.backendNames) {
      await poller.until(backend, (rows) => rows.filter((row) => row.svname.startsWith("srv") && row.status !== "MAINT").length === perService, 120_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pid = cli.child.pid ?? 0;
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);
    lines.push(`${stack.shape} handler run process RSS holding ${services * perService} instances: ${(rssKb() / 1024).toFixed(0)} MB`);
    console.log(lines.at(-1));

    // `run`'s cost per change: one instance changes, Consul answers the
    // blocking query with its service's 2,000 instances, the handler
    // validates them and reconciles all backends. CPU from /proc (10 ms ticks), over 20 changes.
    const cpuTicks = () => {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return Number(fields[11]) + Number(fields[12]);
    };
    const changes = 20;
    const before = cpuTicks();
    for (let i = 0; i < changes; i += 1) {
      const weight = String(10 + i);
      await stack.consul.api("PUT", "/v1/catalog/register", {
        Node: "ext-1-0",
        Address: "127.1.0.1",
        Service: { ID: "svc1-0", Service: "svc1", Port: 14265, Meta: { haproxy_maxconn: "50", haproxy_weight: weight } },
      });
      await poller.untilState("be1", (rows) => rows.some((row) => row.serverName === "srv1" && String(row.userWeight) === weight), 30_000);
    }
    const perChangeMs = ((cpuTicks() - before) * 10) / changes;
    lines.push(`${stack.shape} run: CPU per change with ${services * perService} instances (blocking-query answer of 2,000, validate, reconcile all ${services} backends): ${perChangeMs.toFixed(0)} ms; RSS after: ${(rssKb() / 1024).toFixed(0)} MB`);
    console.log(lines.at(-1));
    await cli.stop();
  } finally {
    await stack.stop();
  }
  return lines;
}
