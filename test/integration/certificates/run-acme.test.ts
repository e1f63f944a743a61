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
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { masterWorkerSections, startMasterWorker } from "../../harness/haproxy-master.js";
import { freePort } from "../../harness/ports.js";
import { runCli, startCli, writeHandlerConfig, type RunningCli } from "../../harness/cli.js";
import { eventually } from "../../harness/eventually.js";
import { startNodeProcess } from "../../harness/load.js";
import { startPebble } from "../../harness/pebble.js";

const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
});

interface Served {
  issuer: string;
  names: string;
  fingerprint: string;
}

/** The certificate a TLS handshake with this SNI gets, or undefined (no listener yet). */
function servedCertificate(port: number, servername: string): Promise<Served | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve({ issuer: String(certificate.issuer?.CN ?? ""), names: String(certificate.subjectaltname ?? ""), fingerprint: certificate.fingerprint256 });
    });
    socket.on("error", () => resolve(undefined));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

describe("run orders the portmap's certificate over ACME and swaps it into the running HAProxy", async () => {
  const directory = mkdtempSync(join(tmpdir(), "cht-run-acme-"));
  const folder = "chh-it/lb/acme/";
  const consul = await startConsul();
  const [adminPort, httpPort, tlsPort, handlerPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // pebble validates http://a.test:<httpPort>/.well-known/acme-challenge/<token>: HAProxy's http listener.
  const pebble = await startPebble({ httpPort });
  const stateFile = join(directory, "server-state");
  const mainFile = join(directory, "haproxy.cfg");
  const portmapFile = join(directory, "portmap.cfg");
  const masterSocket = join(directory, "master.sock");
  const certDirectory = join(directory, "certs");
  const certificateStateDirectory = join(directory, "certificate-state");
  mkdirSync(certDirectory);
  writeFileSync(mainFile, `${masterWorkerSections({ adminPort, stateFile, timeouts: { connect: "1s", clientAndServer: "10s" } })}\nbackend main_back\n    server-template srv 1-2 0.0.0.0:80 check disabled init-addr none\n`);
  writeFileSync(portmapFile, "");
  const haproxy = await startMasterWorker({ configFiles: [mainFile, portmapFile], masterSocket, adminAddress: `127.0.0.1:${adminPort}`, stateFile });
  after(async () => {
    await haproxy.stop();
    await pebble.stop();
    await consul.cleanup();
  });
  const handlerConfig = {
    consul: { address: consul.address, timeoutMs: 2000 },
    haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 2000 },
    policy: { drainSeconds: 0 },
    run: { listen: `127.0.0.1:${handlerPort}` },
    services: [{ name: "iri", backend: "main_back", slotPrefix: "srv" }],
    lb: {
      kvPrefix: folder,
      enabled: true,
      render: true,
      configFile: portmapFile,
      mapDirectory: join(directory, "maps"),
      certDirectory,
      certificateStateDirectory,
      bindAddress: "127.0.0.1",
      checkWith: [mainFile],
      haproxyBinary: execFileSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" }).trim(),
      masterSocket,
      serverStateFile: stateFile,
      cookieKeyFile: join(directory, "cookie-key"),
    },
  };
  const configFile = writeHandlerConfig(handlerConfig);
  const node = await startNodeProcess("web-1");
  await consul.register({ ID: "web-1", Name: "web", Address: node.address, Port: node.port, Check: { CheckID: "ttl-web-1", TTL: "1h", Status: "passing" } });
  const put = async (key: string, value: string) => assert.equal((await fetch(`${consul.address}/v1/kv/${folder}${key}`, { method: "PUT", body: value })).status, 200);

  test("placeholder first, then pebble's certificate for both names, swapped in without a reload; keys 0600; the challenge gone from KV", async (t) => {
    await put("acme_directory", pebble.directoryUrl);
    await put("acme_ca_file", pebble.caFile);
    await put("acme_email", "ops@example.org");
    await put("certificate_name", "a.test,b.test");
    const putAt = Date.now();
    await put("portmap", `http://${httpPort}:web https-http://${tlsPort}:web`);
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
    for (const file of [join(certDirectory, "a.test.pem"), join(certificateStateDirectory, "a.test.pem"), join(certificateStateDirectory, "account.key")]) assert.equal(mode(file), "600", file);
    assert.doesNotMatch(logs, /BEGIN [A-Z ]*PRIVATE KEY/, "no key in the log");
    const challenges = await fetch(`${consul.address}/v1/kv/consul-haproxy-handler/acme/acme/challenges/?keys`);
    assert.equal(challenges.status, 404, `no challenge left in KV after the order: ${await challenges.text()} ${cli.logs().split("\n").filter((line) => /certificate|acme|challenge/i.test(line)).join("\n")}`);
    const metrics = await (await fetch(`http://127.0.0.1:${handlerPort}/metrics`)).text();
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
