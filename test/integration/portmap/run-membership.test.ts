// `run` with lb.enabled fills the portmap's backends from Consul, against a
// real Consul and a real HAProxy that loaded the rendered portmap: every
// instance of an entry's service in its `pm` slots, at the entry's port when
// it has one, `health:` deciding whether warning instances serve, and a KV
// change applied without a restart. A portmap that does not parse, or a
// folder emptied at once, leaves the slots as they are.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode, type TestNode } from "../../harness/backends.js";
import { startCli, type RunningCli } from "../../harness/cli.js";
import { freePort } from "../../harness/ports.js";
import { eventually, hasLog, startStack, ttlRegistration, type Stack } from "../handler/stack.js";
import { judgePortmap } from "../../../handler/source/portmap-kv.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";

const nodes: TestNode[] = [];
const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
  await Promise.all(nodes.map((node) => node.stop()));
});

const folder = "chh-it/lb/run/";

async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  nodes.push(started);
  return started;
}

/** Renders the portmap as the operator's HAProxy would load it (the handler does not reload HAProxy yet). */
function rendered(portmap: string, mapDirectory: string): string {
  const verdict = judgePortmap(new Map([[`${folder}portmap`, portmap]]), folder, {});
  assert.ok(verdict.ok, verdict.ok ? "" : verdict.error.message);
  const { config, maps } = renderLoadBalancer(verdict.spec, { bindAddress: "127.0.0.1", certDirectory: "/nonexistent", mapDirectory, dynamicCookieKey: "test" });
  for (const [name, content] of maps) writeFileSync(join(mapDirectory, name), content);
  return config;
}

async function putPortmap(stack: Stack, value: string): Promise<void> {
  const answer = await fetch(`${stack.consul.address}/v1/kv/${folder}portmap`, { method: "PUT", body: value });
  assert.equal(answer.status, 200);
}

/** Filled slots of a backend as "address:port status" (show stat's status: UP, DRAIN, DOWN...). */
async function filled(stack: Stack, backend: string): Promise<string[]> {
  const [states, stats] = await Promise.all([stack.admin.showServersState(backend), stack.servers(backend)]);
  return states
    .filter((row) => row.address !== "0.0.0.0" && row.address !== "-")
    .map((row) => `${row.address}:${row.port} ${(stats.find((stat) => stat.svname === row.serverName)?.status ?? "?").split(" ")[0]}`)
    .sort();
}

describe("run applies the portmap's membership (lb.enabled)", async () => {
  const webPort = await freePort();
  const dbPort = await freePort();
  const [web1, web2, db] = await Promise.all([startNode("web-1"), startNode("web-2"), startNode("db-1")]);
  nodes.push(web1, web2, db);
  // db registers a port nothing listens on; the entry's `:<port>` is where it serves.
  const portmap = `http://${webPort}:web tcp://${dbPort}:db:${db.port}`;
  const mapDirectory = mkdtempSync(join(tmpdir(), "cht-pm-maps-"));
  const stack = await startStack({
    haproxyExtra: rendered(portmap, mapDirectory),
    handler: (base) => ({ ...base, run: { listen: "127.0.0.1:0", resyncSeconds: 60 }, lb: { kvPrefix: folder, enabled: true } }),
  });
  await putPortmap(stack, portmap);
  await stack.consul.register({ ...ttlRegistration("web-1", web1.port), Name: "web" });
  await stack.consul.register({ ...ttlRegistration("web-2", web2.port), Name: "web" });
  await stack.consul.register({ ...ttlRegistration("db-1", 1), Name: "db" });
  const cli = startCli(["--config", stack.configFile, "run"]);
  running.push(cli);
  const webBackend = `pm_${webPort}_web`;
  const dbBackend = `pm_${dbPort}_db`;

  test("every instance in its entry's backend, db at the entry's port; both listeners serve", async () => {
    // HAProxy's default checks (inter 2 s, rise 2) after the hold-down: a few seconds, more on a loaded CI machine.
    await eventually(() => filled(stack, webBackend), (slots) => slots.length === 2 && slots.every((slot) => slot.endsWith(" UP")), "both web instances UP in their slots", 30_000);
    await eventually(() => filled(stack, dbBackend), (slots) => slots.join() === `127.0.0.1:${db.port} UP`, "db UP at the entry's port", 30_000);
    // The playbook-style backends are the handler's as before: no iri instance, nothing filled.
    assert.deepEqual(await filled(stack, "main_back"), []);
    const seen = new Set<string>();
    await eventually(
      async () => {
        const answer = (await (await fetch(`http://127.0.0.1:${webPort}/`)).json()) as { node?: string };
        if (answer.node) seen.add(answer.node);
        return seen.size;
      },
      (size) => size === 2,
      "requests on the http listener to reach both web instances",
    );
    const throughTcp = (await (await fetch(`http://127.0.0.1:${dbPort}/`)).json()) as { node?: string };
    assert.equal(throughTcp.node, "db-1");
  });

  test("status and sync see the portmap's backends as run does", async () => {
    const status = await stack.cli(["status"]);
    assert.equal(status.code, 0, status.stderr);
    const section = (backend: string) => status.stdout.split("\n\n").find((block) => block.startsWith(`backend ${backend}:`)) ?? "";
    for (const id of ["web-1", "web-2"]) assert.match(section(webBackend), new RegExp(`^\\s+pm\\d+\\s+ready\\s+UP\\s.*\\s${id}\\s+passing$`, "m"), status.stdout);
    // Joined at the entry's port, not the port db-1 registered.
    assert.match(section(dbBackend), new RegExp(`^\\s+pm1\\s+ready\\s+UP\\s+127\\.0\\.0\\.1:${db.port}\\s.*\\sdb-1\\s+passing$`, "m"), status.stdout);
    // A sync finds nothing to do in them (run applied it all), and does not fail on them.
    const sync = await stack.cli(["sync", "--dry-run"]);
    assert.equal(sync.code, 0, sync.stderr);
    assert.doesNotMatch(sync.stdout, /set server pm_/, sync.stdout);
  });

  test("health: a warning instance is drained by default, serves with health:warning (a KV change, no restart)", async () => {
    await stack.consul.api("PUT", "/v1/agent/check/warn/ttl-web-2");
    await eventually(() => filled(stack, webBackend), (slots) => slots.includes(`127.0.0.1:${web2.port} DRAIN`), "web-2 drained while warning");
    await putPortmap(stack, `http://${webPort}:web{health:warning} tcp://${dbPort}:db:${db.port}`);
    await eventually(() => filled(stack, webBackend), (slots) => slots.includes(`127.0.0.1:${web2.port} UP`), "web-2 serving again with health:warning");
    assert.ok(hasLog(cli.logs(), { message: "applying the portmap" }), "the change was applied by the running handler");
    assert.equal(cli.child.exitCode, null, "run is still running");
  });

  test("an entry HAProxy has not loaded yet: its nodes are left out saying so, every other backend is still kept in step", async () => {
    const unloadedPort = await freePort();
    await putPortmap(stack, `http://${webPort}:web{health:warning} tcp://${dbPort}:db:${db.port} http://${unloadedPort}:later`);
    const later = await node("later-1");
    await stack.consul.register({ ...ttlRegistration("later-1", later.port), Name: "later" });
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /HAProxy has no slots in pm_\d+_later: it has not loaded this portmap entry yet/.test(logs), "the unloaded entry's node left out, with the reason");
    // A new web instance is still placed: the missing backend does not fail the reconcile.
    const web3 = await node("web-3");
    await stack.consul.register({ ...ttlRegistration("web-3", web3.port), Name: "web" });
    await eventually(() => filled(stack, webBackend), (slots) => slots.includes(`127.0.0.1:${web3.port} UP`), "web-3 UP while another entry's backend is missing");
    assert.ok(!hasLog(cli.logs(), { message: "reconcile failed; will retry" }), "no reconcile failed");
  });

  test("a portmap that does not parse changes nothing and makes /healthz say why; an emptied folder is held", async () => {
    const before = await filled(stack, webBackend);
    await putPortmap(stack, `http://${webPort}:web{nonsense:1}`);
    await eventually(() => Promise.resolve(cli.logs()), (logs) => hasLog(logs, { message: /the portmap under chh-it\/lb\/run\/ is not applied: portmap: .*nonsense/ }), "the handler to log the bad portmap");
    const listen = /"address":"(127\.0\.0\.1:\d+)"/.exec(cli.logs())?.[1];
    assert.ok(listen, "run's listener address in the logs");
    const health = await fetch(`http://${listen}/healthz`);
    assert.equal(health.status, 503);
    assert.match(await health.text(), /portmap .*is not applied/);
    const metrics = await (await fetch(`http://${listen}/metrics`)).text();
    assert.match(metrics, /^consul_haproxy_handler_portmap_problems_total\{reason="invalid"\} [1-9]/m, "the bad portmap counted");
    assert.deepEqual(await filled(stack, webBackend), before);
    await fetch(`${stack.consul.address}/v1/kv/${folder}?recurse=true`, { method: "DELETE" });
    await eventually(() => Promise.resolve(cli.logs()), (logs) => hasLog(logs, { message: /lost every entry at once/ }), "the handler to hold the emptied portmap");
    assert.deepEqual(await filled(stack, webBackend), before);
    assert.deepEqual(await filled(stack, dbBackend), [`127.0.0.1:${db.port} UP`]);
  });
});
