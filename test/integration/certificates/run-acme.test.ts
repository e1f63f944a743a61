// `run` with certificate_name and acme_* keys in the portmap's folder, against
// Debian's pebble, a real Consul and a master-worker HAProxy: the https
// listener serves a self-signed placeholder from its first rendering, the
// handler orders the certificate over HTTP-01 (pebble validates through
// HAProxy's http listener, which sends the challenge path to the handler,
// which reads the tier's challenge folder in Consul KV), and the issued
// certificate goes into the running HAProxy over the runtime API: the same
// worker, no second reload. The figure printed: KV PUT -> pebble's
// certificate served.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, startCli, writeHandlerConfig, type RunningCli } from "../../harness/cli.js";
import { eventually } from "../../harness/eventually.js";
import { fileMode, servedCertificate, startAcmeRun } from "../../harness/acme-run.js";

const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
});

describe("run orders the portmap's certificate over ACME and swaps it into the running HAProxy", async () => {
  const lb = await startAcmeRun({ folder: "chh-it/lb/acme/" });
  after(() => lb.stop());
  const { consul, configFile, handlerConfig, certDirectory, certificateStateDirectory } = lb;
  const tlsPort = lb.ports.tls;

  test("placeholder first, then pebble's certificate for both names, swapped in without a reload; keys 0600; the challenge gone from KV", async (t) => {
    const putAt = await lb.putPortmap("a.test,b.test");
    const cli = startCli(["--config", configFile, "run"]);
    running.push(cli);
    const issued = await eventually(() => servedCertificate(tlsPort, "a.test"), (served) => served !== undefined && /Pebble/i.test(served.issuer), "pebble's certificate served on the https listener", 60_000, { intervalMs: 50 });
    const servedAfterMs = Date.now() - putAt;
    t.diagnostic(`KV PUT -> pebble's certificate served: ${servedAfterMs} ms (handler start, render, reload, order, validation, swap)`);
    assert.match(issued?.names ?? "", /DNS:a\.test/);
    assert.match(issued?.names ?? "", /DNS:b\.test/);
    assert.deepEqual(await servedCertificate(tlsPort, "b.test"), issued, "one certificate for both names");
    const logs = cli.logs();
    assert.match(logs, /"message":"certificate written for the next rendering"/, "the placeholder before the first rendering");
    assert.match(logs, /"message":"certificate issued"/);
    assert.match(logs, /"message":"certificate swapped into the running HAProxy"/);
    assert.equal((logs.match(/HAProxy reloaded with the portmap/g) ?? []).length, 1, "one reload (the first rendering); the certificate came over the runtime API");
    for (const file of [join(certDirectory, "a.test.pem"), join(certificateStateDirectory, "a.test.pem"), join(certificateStateDirectory, "account.key")]) assert.equal(fileMode(file), "600", file);
    assert.doesNotMatch(logs, /BEGIN [A-Z ]*PRIVATE KEY/, "no key in the log");
    const challenges = await fetch(`${consul.address}/v1/kv/consul-haproxy-handler/acme/acme/challenges/?keys`);
    assert.equal(challenges.status, 404, `no challenge left in KV after the order: ${await challenges.text()} ${cli.logs().split("\n").filter((line) => /certificate|acme|challenge/i.test(line)).join("\n")}`);
    const metrics = await lb.metrics();
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="issued"\} 1$/m, "one order, counted");
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="failed"\} 0$/m);
    const status = await runCli(["--config", configFile, "status"]);
    assert.match(status.stdout, /^certificate a\.test, b\.test: issued by CN=Pebble[^,]*, not after \d{4}-\d\d-\d\dT[^,]+, next order \d{4}-[^ ]+ \(renewal\)$/m, `status lists the certificate: ${status.stdout}`);
    assert.doesNotMatch(status.stdout, /PRIVATE KEY/);
    assert.equal(await cli.stop(), 0);
  });

  test("check-config warns when certificate_name cannot be ordered: no fixed run.listen for the challenges to reach", async () => {
    const fine = await runCli(["--config", configFile, "check-config"]);
    assert.doesNotMatch(fine.stdout + fine.stderr, /HTTP-01/, "a fixed run.listen and an http listener: no warning");
    const withoutListener = writeHandlerConfig({ ...handlerConfig, run: {} });
    const checked = await runCli(["--config", withoutListener, "check-config"]);
    assert.equal(checked.code, 0, `a warning, not a failure: ${checked.stdout}${checked.stderr}`);
    assert.match(checked.stdout + checked.stderr, /certificate_name is set but run\.listen is not a fixed host:port/);
  });
});
