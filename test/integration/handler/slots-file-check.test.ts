// check-config and haproxy.slotsFile: the template must render and the
// output's directory must be writable (the file is replaced by a rename),
// else a reload of HAProxy would lose the slot assignment.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";

describe("check-config with haproxy.slotsFile", async () => {
  const consul = await startConsul();
  const adminPort = await freePort();
  const backends = "backend web\n    server-template app 1-3 0.0.0.0:8080 check disabled init-addr none\n";
  const haproxy = await startHaproxy({ adminPort, config: `global\n    stats socket ipv4@127.0.0.1:${adminPort} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n${backends}` });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const directory = mkdtempSync(join(tmpdir(), "cht-slots-check-"));
  const template = join(directory, "backends.cfg.in");
  writeFileSync(template, backends);
  const check = (slotsFile: Record<string, string>) =>
    runCli(["--config", writeHandlerConfig({ consul: { address: consul.address }, haproxy: { socket: `127.0.0.1:${adminPort}`, slotsFile }, services: [{ name: "api", backend: "web", slotPrefix: "app" }] }), "check-config"]);

  test("a template that renders and a writable directory pass", async () => {
    const result = await check({ template, output: join(directory, "backends.cfg") });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok {3}slots file: .*backends\.cfg\.in renders into .*backends\.cfg$/m);
  });

  test("a missing template or an output directory that does not exist fails with the consequence", async () => {
    const missing = await check({ template: join(directory, "nothing.cfg.in"), output: join(directory, "backends.cfg") });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^FAIL slots file: .*ENOENT.*; a reload of HAProxy would put nodes in other slots until this is fixed$/m);
    const noDirectory = await check({ template, output: join(directory, "no-such-directory", "backends.cfg") });
    assert.equal(noDirectory.code, 1);
    assert.match(noDirectory.stdout, /^FAIL slots file: .*no-such-directory/m);
  });
});
