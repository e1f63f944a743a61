// sync --dry-run, status and check-config against an HAProxy config written
// without this project in mind: other names, a unix admin socket, one backend.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";
import { startNode, type TestNode } from "../../harness/backends.js";
import { RuntimeApiClient } from "../../../handler/haproxy-runtime-api/index.js";
import { ttlRegistration } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("CLI against a foreign HAProxy config", async () => {
  const consul = await startConsul();
  const directory = mkdtempSync(join(tmpdir(), "cht-foreign-"));
  const socket = join(directory, "admin.sock");
  const adminPort = await freePort();
  const webPort = await freePort();
  const haproxy = await startHaproxy({
    adminPort,
    config: `
global
    stats socket ${socket} mode 600 level admin
    stats socket ipv4@127.0.0.1:${adminPort} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend www
    bind 127.0.0.1:${webPort}
    default_backend web
backend web
    balance leastconn
    server static1 127.0.0.1:9 disabled
    server-template app 1-3 0.0.0.0:8080 disabled init-addr none
`,
  });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const configFile = writeHandlerConfig({
    consul: { address: consul.address },
    haproxy: { socket },
    services: [{ name: "api", backend: "web", slotPrefix: "app" }],
  });
  const cli = (...args: string[]) => runCli(["--config", configFile, ...args]);
  const admin = new RuntimeApiClient(socket);

  test("check-config passes and names what it checked", async () => {
    const result = await cli("check-config");
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok {3}config: 1 service\(s\), 1 backend\(s\)$/m);
    assert.match(result.stdout, /^ok {3}consul: /m);
    assert.match(result.stdout, /^ok {3}haproxy: .*HAProxy \d+\.\d+/m);
    assert.match(result.stdout, /^ok {3}slots web\/app: 3 slot\(s\)$/m);
  });

  test("check-config fails with advice on a wrong prefix or backend", async () => {
    const wrong = writeHandlerConfig({
      consul: { address: consul.address },
      haproxy: { socket },
      services: [
        { name: "api", backend: "web", slotPrefix: "nope" },
        { name: "other", backend: "missing_back", slotPrefix: "app" },
      ],
    });
    const result = await runCli(["--config", wrong, "check-config"]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAIL slots web\/nope: no server named nope<N>; add 'server-template nope 1-<N>/);
    assert.match(result.stdout, /FAIL backend missing_back: not found in HAProxy/);
  });

  test("check-config validates the portmap under lb.kvPrefix: none, a valid one listed, a bad one fails with the parser's advice", async () => {
    const folder = `${consul.address}/v1/kv/consul-haproxy-handler/lb/default/`;
    const none = await cli("check-config");
    assert.equal(none.code, 0, none.stdout);
    assert.match(none.stdout, /^ok {3}portmap consul-haproxy-handler\/lb\/default\/: no keys: no listeners of its own/m);
    try {
      assert.equal((await fetch(`${folder}portmap`, { method: "PUT", body: "http://8080:web{balance:roundrobin} tcp://5432:db" })).status, 200);
      const valid = await cli("check-config");
      assert.equal(valid.code, 0, valid.stdout);
      assert.match(valid.stdout, /^ok {3}portmap consul-haproxy-handler\/lb\/default\/: valid: 2 entries: http:\/\/8080:web\{balance:roundrobin\} tcp:\/\/5432:db /m);
      // The handler's admin socket over TCP: a listener on its port is refused.
      assert.equal((await fetch(`${folder}portmap`, { method: "PUT", body: `tcp://${adminPort}:db` })).status, 200);
      const overTcp = writeHandlerConfig({ consul: { address: consul.address }, haproxy: { socket: `127.0.0.1:${adminPort}` }, services: [{ name: "api", backend: "web", slotPrefix: "app" }] });
      const taken = await runCli(["--config", overTcp, "check-config"]);
      assert.equal(taken.code, 1, taken.stdout);
      assert.match(taken.stdout, new RegExp(`^FAIL portmap consul-haproxy-handler/lb/default/: portmap: portmap entry 1 "tcp://${adminPort}:db": listen port: ${adminPort}`, "m"));
      assert.equal((await fetch(`${folder}max-rs`, { method: "PUT", body: "8" })).status, 200);
      const typo = await cli("check-config");
      assert.equal(typo.code, 1, typo.stdout);
      assert.match(typo.stdout, /^FAIL portmap consul-haproxy-handler\/lb\/default\/: max-rs: .*max-rs/m);
    } finally {
      await fetch(`${folder}?recurse=true`, { method: "DELETE" });
    }
    // Consul unreachable: a warning while run does not use the portmap, a failure once it does.
    const nowhere = { consul: { address: "http://127.0.0.1:1", timeoutMs: 500 }, haproxy: { socket }, services: [{ name: "api", backend: "web", slotPrefix: "app" }] };
    const off = await runCli(["--config", writeHandlerConfig(nowhere), "check-config"]);
    assert.match(off.stdout, /^warn portmap consul-haproxy-handler\/lb\/default\/: cannot reach Consul.*\(lb\.enabled is false: run does not apply it\)$/m, off.stdout);
    const on = await runCli(["--config", writeHandlerConfig({ ...nowhere, lb: { enabled: true } }), "check-config"]);
    assert.match(on.stdout, /^FAIL portmap consul-haproxy-handler\/lb\/default\/: cannot reach Consul/m, on.stdout);
  });

  test("check-config reports an unreachable HAProxy and a config error with exit 2", async () => {
    const unreachable = writeHandlerConfig({ consul: { address: consul.address }, haproxy: { socket: join(directory, "nothing.sock") }, services: [{ name: "api", backend: "web", slotPrefix: "app" }] });
    const result = await runCli(["--config", unreachable, "check-config"]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAIL haproxy: /);
    const invalid = writeHandlerConfig({ haproxy: { socket }, services: [{ name: "api", backend: "web" }] });
    const invalidResult = await runCli(["--config", invalid, "check-config"]);
    assert.equal(invalidResult.code, 2);
    assert.match(invalidResult.stderr, /services\[0\]\.slotPrefix: missing/);
  });

  test("sync --dry-run prints the exact runtime commands and sends nothing", async () => {
    const node = await startNode("api-1");
    nodes.push(node);
    await consul.register({ ...ttlRegistration("api-1", node.port, { Meta: { haproxy_weight: "30" } }), Name: "api" });
    const before = await admin.showStat();
    const result = await cli("sync", "--dry-run");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout.trim(),
      // The empty slot has no maxconn already (the default): only what differs is sent.
      [`set server web/app1 addr 127.0.0.1 port ${node.port}`, "set server web/app1 weight 30", "set server web/app1 state ready"].join("\n"),
    );
    const after_ = await admin.showStat();
    const app1 = (rows: typeof before) => {
      const row = rows.find((candidate) => candidate.svname === "app1");
      return row && [row.status, row["addr"], row["weight"], row["slim"]];
    };
    assert.deepEqual(app1(after_), app1(before), "nothing was sent");
  });

  test("status shows every used slot with the Consul service ID and health", async () => {
    assert.equal((await cli("sync")).code, 0);
    const text = await cli("status");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /backend web: 1 used, 2 free of 3 slots/);
    assert.match(text.stdout, /app1\s+ready\s+(UP|no check)\s+127\.0\.0\.1:\d+\s+30\s+-\s+\d+\s+api-1\s+passing/);
    const json = await cli("status", "--json", "--all");
    const report = JSON.parse(json.stdout) as { consul: { trusted: boolean }; backends: { backend: string; slots: { slot: string; serviceId: string | null; weight: number }[] }[] };
    assert.equal(report.consul.trusted, true);
    const web = report.backends.find((backend) => backend.backend === "web");
    assert.equal(web?.slots.length, 3, "static1 is not a slot and is not listed");
    assert.equal(web?.slots.find((slot) => slot.slot === "app1")?.serviceId, "api-1");
    assert.equal((await admin.showStat()).find((row) => row.svname === "static1")?.status, "MAINT", "servers outside the slots are never touched");
  });
});
