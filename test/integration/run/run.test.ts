// `run` as a real process against a real Consul and HAProxy.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { startNode, type TestNode } from "../../harness/backends.js";
import { join } from "node:path";
import { repositoryRoot, startCli, type RunningCli } from "../../harness/cli.js";
import { startGateProxy } from "../../harness/gate-proxy.js";
import { commands } from "../../../handler/haproxy-runtime-api/index.js";
import { eventually, hasLog, startStack, ttlRegistration, type Stack } from "../handler/stack.js";

const nodes: TestNode[] = [];
const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
  await Promise.all(nodes.map((node) => node.stop()));
});

async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  nodes.push(started);
  return started;
}

async function startRun(stack: Stack): Promise<RunningCli> {
  const cli = startCli(["--config", stack.configFile, "run"]);
  running.push(cli);
  return cli;
}

async function runStack(extra: Record<string, unknown> = {}, resyncSeconds = 60): Promise<Stack> {
  // Port 0: the handler binds a port the OS picks and logs it. A port probed
  // free beforehand can be taken by any outgoing connection in the meantime.
  return startStack({ slots: 20, handler: (base) => ({ ...base, run: { listen: "127.0.0.1:0", resyncSeconds }, ...extra }) });
}

async function metricsOf(listen: string): Promise<Map<string, number>> {
  return parsePrometheus(await (await fetch(`http://${listen}/metrics`)).text());
}

/** Points the handler's config at another admin socket address (a proxy). */
function useAdminSocket(stack: Stack, socket: string): void {
  const config = parse(readFileSync(stack.configFile, "utf8")) as { haproxy: { socket: string } };
  config.haproxy.socket = socket;
  writeFileSync(stack.configFile, stringify(config));
}

/** The address `run` listens on, from its "listening" log line. */
async function listenAddress(cli: RunningCli): Promise<string> {
  const logs = await eventually(() => Promise.resolve(cli.logs()), (text) => /"message":"listening"/.test(text), "the listener to start");
  const line = logs.split("\n").find((entry) => entry.includes('"message":"listening"')) ?? "";
  const address = /"address":"(127\.0\.0\.1:\d+)"/.exec(line)?.[1];
  assert.ok(address, `no listening address in the logs: ${logs}`);
  return address;
}

const upCount = async (stack: Stack, backend = "main_back") => (await stack.servers(backend)).filter((row) => row.status === "UP").length;

/** A strict parser of the Prometheus text format: every line is a comment or `name{labels} value`. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      if (comment[1] === "TYPE") {
        assert.match(comment[3] ?? "", /^(counter|gauge|histogram|summary|untyped)$/, line);
        typed.add(comment[2] ?? "");
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN|Nan)$/.exec(line);
    assert.ok(sample, `not a Prometheus sample line: ${line}`);
    const family = (sample[1] ?? "").replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(sample[1] ?? "") || typed.has(family), `sample without a TYPE: ${line}`);
    samples.set(`${sample[1]}${sample[2] ?? ""}`, Number(sample[3] === "+Inf" ? Infinity : sample[3]));
  }
  return samples;
}

describe("run", () => {
  test("picks up register, health and deregister changes; /metrics and /healthz", async () => {
    const stack = await runStack();
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    const cli = await startRun(stack);
    const listen = await listenAddress(cli);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP without any sync", 15_000);

    await stack.consul.register(ttlRegistration("b", b.port, { Meta: { haproxy_weight: "40" } }));
    const bRow = await eventually(() => stack.stat("srv2"), (row) => row.status === "UP", "b UP");
    assert.equal(bRow["weight"], "40");

    // A Consul watch with handler_type http only triggers a reconcile. Prove
    // the trigger: drift HAProxy behind the handler's back (Consul does not
    // change, so no blocking query returns, and the resync is 60 s away);
    // only the reconcile that POST /watch triggers puts the weight back.
    const drifted = await stack.admin.execute([commands.setServerWeight("main_back", "srv1", 77)]);
    assert.ok(drifted[0]?.ok, JSON.stringify(drifted));
    assert.equal((await stack.stat("srv1"))["weight"], "77");
    const posted = await fetch(`http://${listen}/watch`, { method: "POST", body: "[]" });
    assert.equal(posted.status, 202);
    await eventually(() => stack.stat("srv1"), (row) => row["weight"] === "1", "the reconcile POST /watch triggered repaired the weight");
    assert.equal((await metricsOf(listen)).get("consul_haproxy_handler_watch_requests_total"), 1, "the POST was counted");

    await stack.consul.api("PUT", "/v1/agent/check/fail/ttl-a");
    await eventually(() => stack.stat("srv1"), (row) => row.status === "MAINT", "a out of rotation when critical");
    await stack.consul.deregister("b");
    await eventually(() => stack.stat("srv2"), (row) => row.status === "MAINT", "b drained then freed after deregister");
    assert.ok(hasLog(cli.logs(), { message: "drain: node left Consul", slot: "main_back/srv2" }), "the drain was logged");

    const health = await fetch(`http://${listen}/healthz`);
    assert.equal(health.status, 200, await health.text());
    const metrics = parsePrometheus(await (await fetch(`http://${listen}/metrics`)).text());
    assert.ok((metrics.get('consul_haproxy_handler_reconciles_total{result="ok"}') ?? 0) >= 3);
    assert.ok((metrics.get("consul_haproxy_handler_change_to_applied_seconds_count") ?? 0) >= 3);
    assert.equal(metrics.get('consul_haproxy_handler_slots{backend="main_back",use="used"}'), 1, "a keeps its slot while critical");
    assert.equal(metrics.get("consul_haproxy_handler_consul_trusted"), 1);
    // prom-client: build info, the documented label values from the start, the default process and Node.js metrics.
    const version = (JSON.parse(readFileSync(join(repositoryRoot, "package.json"), "utf8")) as { version: string }).version;
    assert.equal(metrics.get(`consul_haproxy_handler_build_info{version="${version}",node_version="${process.version}"}`), 1);
    assert.equal(metrics.get('consul_haproxy_handler_failures_total{cause="haproxy"}'), 0);
    assert.equal(metrics.get('consul_haproxy_handler_failures_total{cause="consul-unreachable"}'), 0);
    assert.equal(metrics.get('consul_haproxy_handler_config_reloads_total{result="ok"}'), 0);
    assert.ok((metrics.get("process_resident_memory_bytes") ?? 0) > 10_000_000, "resident memory reported");
    assert.ok(metrics.has("nodejs_eventloop_lag_seconds"), "event-loop lag reported");
    assert.ok(![...metrics.keys()].some((name) => name.startsWith("chh_")), "no metric keeps the old chh_ prefix");

    assert.equal(await cli.stop("SIGTERM"), 0, cli.logs());
  });

  test("HAProxy restarted under it: slots and maxconn come back without a handler restart", async () => {
    const stack = await runStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port, { Meta: { haproxy_maxconn: "11", haproxy_pow: "true" } }));
    const cli = await startRun(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["slim"] === "11", "a UP with maxconn 11");
    await stack.haproxy.restart();
    const back = await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP again after the restart", 15_000);
    assert.equal(back["slim"], "11");
    assert.equal((await stack.stat("srv1", "pow_back"))["slim"], "2");
    assert.match(cli.logs(), /HAProxy was reloaded or restarted/);
    assert.equal(await cli.stop(), 0);
  });

  test("Consul killed and restarted: no change while it is down, converged after", async () => {
    // A resync every second: while Consul is down, the resync and the
    // blocking-query retries both run, and neither may touch HAProxy.
    const stack = await runStack({}, 1);
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.register(ttlRegistration("b", b.port));
    const cli = await startRun(stack);
    const listen = await listenAddress(cli);
    await eventually(() => upCount(stack), (count) => count === 2, "both UP");
    const before = (await stack.servers("main_back")).map((row) => `${row.svname} ${row.status} ${row["addr"]}`);

    await stack.consul.stop();
    await eventually(() => fetch(`http://${listen}/healthz`).then((response) => response.status), (status) => status === 503, "healthz says Consul is not trusted");
    const resyncsFailed = () => cli.logs().split("\n").filter((line) => line.includes("resync: Consul not trusted")).length;
    const failedBefore = resyncsFailed();
    const retriesBefore = (await metricsOf(listen)).get('consul_haproxy_handler_failures_total{cause="consul-unreachable"}') ?? 0;
    // Two resyncs and two blocking-query retries failed while Consul was down.
    await eventually(() => Promise.resolve(resyncsFailed()), (count) => count >= failedBefore + 2, "two resyncs while Consul is down", 20_000);
    await eventually(async () => (await metricsOf(listen)).get('consul_haproxy_handler_failures_total{cause="consul-unreachable"}') ?? 0, (count) => count >= retriesBefore + 2, "two blocking-query retries while Consul is down", 20_000);
    assert.deepEqual((await stack.servers("main_back")).map((row) => `${row.svname} ${row.status} ${row["addr"]}`), before);

    await stack.consul.start();
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.api("PUT", "/v1/agent/check/pass/ttl-a");
    await stack.consul.deregister("b");
    // The blocking-query retry backs off up to 30 s (full jitter): allow two of those.
    await eventually(() => stack.stat("srv2"), (row) => row.status === "MAINT", "b out after Consul is back", 65_000);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${a.port}`, "a still UP in its slot");
    assert.equal(await cli.stop(), 0);
  });

  test("SIGHUP reloads the config; a broken file keeps the running one", async () => {
    const stack = await runStack();
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    const cli = await startRun(stack);
    const first = await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP");
    assert.equal(first["weight"], "1");

    // A new default weight: after SIGHUP the running controller applies it.
    const config = parse(readFileSync(stack.configFile, "utf8")) as { services: { defaults: { weight: number } }[] };
    const service = config.services[0];
    assert.ok(service);
    service.defaults.weight = 7;
    writeFileSync(stack.configFile, stringify(config));
    cli.child.kill("SIGHUP");
    await eventually(() => stack.stat("srv1"), (row) => row["weight"] === "7", "weight 7 after the reload");
    const listen = await listenAddress(cli);
    const reloads = async () => parsePrometheus(await (await fetch(`http://${listen}/metrics`)).text());
    await eventually(reloads, (metrics) => metrics.get('consul_haproxy_handler_config_reloads_total{result="ok"}') === 1, "the reload counted");

    // A broken file: logged, the process keeps running with the last good config.
    writeFileSync(stack.configFile, "services: nope\n");
    cli.child.kill("SIGHUP");
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /config reload failed; keeping the running config/.test(logs), "the failed reload logged");
    assert.equal((await reloads()).get('consul_haproxy_handler_config_reloads_total{result="failed"}'), 1, "the failed reload counted");
    await stack.consul.register(ttlRegistration("b", b.port));
    const second = await eventually(() => stack.stat("srv2"), (row) => row.status === "UP", "b UP after the failed reload");
    assert.equal(second["weight"], "7");
    assert.equal(await cli.stop(), 0, cli.logs());
  });

  test("a SIGHUP that turns lb.enabled on: the listener answers the tier's ACME challenges from then on", async () => {
    const stack = await runStack();
    const cli = await startRun(stack);
    const listen = await listenAddress(cli);
    const token = "sighupTokenAbcdefghijklmnopqrstuvwxyz0123456";
    const keyAuthorization = `${token}.thumbprintOfTheAccountKey_0123456789abcdef`;
    const put = await fetch(`${stack.consul.address}/v1/kv/consul-haproxy-handler/acme/sighup/challenges/${token}`, { method: "PUT", body: keyAuthorization });
    assert.equal(put.status, 200);
    const challenge = async () => {
      const response = await fetch(`http://${listen}/.well-known/acme-challenge/${token}`);
      return { status: response.status, body: await response.text() };
    };
    assert.equal((await challenge()).status, 404, "lb off: no challenge is answered");
    const config = parse(readFileSync(stack.configFile, "utf8")) as Record<string, unknown>;
    writeFileSync(stack.configFile, stringify({ ...config, lb: { enabled: true, kvPrefix: "chh-it/lb/sighup/" } }));
    cli.child.kill("SIGHUP");
    // The playbook enables lb on a running handler with a SIGHUP: the CA's request must then be answered.
    const answered = await eventually(challenge, (answer) => answer.status === 200, "the challenge answered after the reload", 20_000);
    assert.equal(answered.body, keyAuthorization);
    assert.equal(await cli.stop(), 0, cli.logs());
  });

  test("a SIGHUP while run is still starting is applied once it runs, never fatal", async () => {
    const stack = await runStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    const config = parse(readFileSync(stack.configFile, "utf8")) as { services: { defaults: { weight: number } }[] };
    const cli = await startRun(stack);
    // What systemctl reload does (the unit's ExecReload): wait until the
    // process catches SIGHUP (bit 0 of SigCgt), then send it. Node catches
    // none at start, so this is the first moment a SIGHUP is safe at all.
    const pid = cli.child.pid ?? 0;
    // Polled without pause: the controller starts within tens of milliseconds.
    const deadline = Date.now() + 10_000;
    while (!/^SigCgt:.*[13579bdf]$/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) {
      assert.ok(Date.now() < deadline, "the handler never caught SIGHUP");
      await new Promise((resolve) => setImmediate(resolve));
    }
    const service = config.services[0];
    assert.ok(service);
    service.defaults.weight = 9;
    writeFileSync(stack.configFile, stringify(config));
    cli.child.kill("SIGHUP");
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["weight"] === "9", "a UP with weight 9 from the config written while starting");
    assert.equal(cli.child.exitCode, null, cli.logs());
    assert.match(cli.logs(), /a SIGHUP came while starting; reloading the config now/, "the SIGHUP reached the handler before the controller ran");
    assert.equal(await cli.stop(), 0, cli.logs());
  });

  test("SIGTERM with a batch in flight: the batch completes, HAProxy is consistent; the next start converges", async () => {
    const stack = await runStack();
    // The handler talks to HAProxy through a proxy that holds its traffic once
    // it sends `set server addr`: at that moment a batch is in flight for sure.
    const gate = await startGateProxy({ host: "127.0.0.1", port: Number(/:(\d+)$/.exec(stack.haproxy.adminAddress)?.[1]) });
    useAdminSocket(stack, gate.address);
    const started = await Promise.all(Array.from({ length: 15 }, (_, index) => node(`burst${index}`)));
    const cli = await startRun(stack);
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /reconciled/.test(logs), "first reconcile");
    gate.arm(/set server [^\n]* addr /);
    await Promise.all(started.map((started_, index) => stack.consul.register(ttlRegistration(`burst${index}`, started_.port))));
    const heldText = await gate.held();
    const inFlight = new Set([...heldText.matchAll(/set server main_back\/(srv\d+) addr/g)].map((match) => match[1]));
    assert.ok(inFlight.size > 0, `no main_back fill in the held batch: ${heldText}`);

    cli.child.kill("SIGTERM");
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /"message":"stopping"/.test(logs), "the handler received SIGTERM");
    gate.release();
    assert.equal(await cli.stop("SIGTERM"), 0, cli.logs());

    // The batch in flight was finished (both halves), nothing else half-done:
    // every slot the held batch filled is ready at a registered address, and
    // every non-free slot points at one distinct registered node.
    const ports = new Set(started.map((started_) => `127.0.0.1:${started_.port}`));
    const held = (await stack.servers("main_back")).filter((row) => row.status !== "MAINT");
    assert.deepEqual(held.map((row) => row.svname).sort(), [...inFlight].sort(), "exactly the slots of the batch in flight are in use");
    for (const row of held) assert.ok(ports.has(row["addr"] ?? ""), `${row.svname} holds ${row["addr"]}`);
    assert.equal(new Set(held.map((row) => row["addr"])).size, held.length);

    useAdminSocket(stack, stack.haproxy.adminAddress);
    const second = await startRun(stack);
    await eventually(() => upCount(stack), (count) => count === 15, "all 15 UP after the restart");
    assert.equal(await second.stop(), 0);
  });
});
