// Least privilege: a runtime API socket below level admin (the playbook's TCP
// socket is at level operator) is refused by check-config with "needs level
// admin", and a sync against it reports "Permission denied" once, not once
// per slot.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startConsul } from "../../harness/consul.js";
import { startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";
import { startNode, type TestNode } from "../../harness/backends.js";
import { logLines, ttlRegistration } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("a runtime API socket at level operator", async () => {
  const consul = await startConsul();
  const adminPort = await freePort();
  const operatorPort = await freePort();
  const webPort = await freePort();
  const haproxy = await startHaproxy({
    adminPort,
    config: `
global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
    stats socket ipv4@127.0.0.1:${operatorPort} level operator
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend www
    bind 127.0.0.1:${webPort}
    default_backend web
backend web
    server-template app 1-3 0.0.0.0:8080 check disabled init-addr none
`,
  });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const configFor = (port: number) => writeHandlerConfig({ consul: { address: consul.address }, haproxy: { socket: `127.0.0.1:${port}` }, services: [{ name: "iri", backend: "web", slotPrefix: "app" }] });

  test("check-config fails and says the handler needs level admin; at level admin it passes", async () => {
    const refused = await runCli(["--config", configFor(operatorPort), "check-config"]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /^FAIL haproxy level: 127\.0\.0\.1:\d+ is at level operator; the handler needs level admin/m);
    const accepted = await runCli(["--config", configFor(adminPort), "check-config"]);
    assert.match(accepted.stdout, /^ok {3}haproxy level: admin$/m, accepted.stdout);
  });

  test("sync at level operator reports 'Permission denied' once, not slot by slot", async () => {
    for (const name of ["a", "b", "c"]) {
      const node = await startNode(name);
      nodes.push(node);
      await consul.register(ttlRegistration(name, node.port));
    }
    const result = await runCli(["--config", configFor(operatorPort), "sync"]);
    assert.equal(result.code, 1, result.stderr);
    const denied = logLines(result.stderr).filter((line) => typeof line["message"] === "string" && /Permission denied/.test(line["message"]));
    assert.equal(denied.length, 1, result.stderr);
    assert.match(String(denied[0]?.["message"]), /needs level admin/);
    assert.equal(denied[0]?.["refusedSlots"], 3);
    assert.equal(logLines(result.stderr).filter((line) => line["message"] === "HAProxy refused a command; the slot was not enabled").length, 0, result.stderr);
  });
});
