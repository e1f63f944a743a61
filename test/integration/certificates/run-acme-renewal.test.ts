// `run` with certificate_name over the life of a certificate, through the
// real CLI against pebble, Consul and a master-worker HAProxy
// (test/harness/acme-run.ts, shared with run-acme.test.ts), with
// lb.certificateCheckSeconds: 1 so that a due order is looked for every second:
//   - pebble issues 96-second certificates: `run` renews a third of the
//     lifetime before expiry (64 s after issue; the minute between two orders
//     is over by then) and swaps the renewed certificate into the same HAProxy
//     worker, no reload;
//   - pebble refuses the name (its domainBlocklist): the placeholder stays
//     served, the CA's reason is logged and in `status` with the count of
//     failures, the failure is counted in the metrics, and the retry waits
//     (one order over a window of seconds of one-second checks; `status` says
//     when the next one is, a minute after the failure).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, startCli, type RunningCli } from "../../harness/cli.js";
import { eventually } from "../../harness/eventually.js";
import { fileMode, servedCertificate, startAcmeRun, verifyServed, withHandlerLines, type Served } from "../../harness/acme-run.js";

const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
});

/** The handler's JSON log lines with this message. */
function logged(logs: string, message: string): Record<string, unknown>[] {
  return logs
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.message === message);
}

const count = (logs: string, message: string): number => logged(logs, message).length;

/** The time `status` gives as the next order of its certificate line, and why. */
function nextOrderOf(statusLine: string): { at: Date; reason: string } {
  const match = / next order (\S+) \(([a-z ]+)\)/.exec(statusLine);
  assert.ok(match?.[1] !== undefined && match[2] !== undefined, `no next order in ${statusLine}`);
  return { at: new Date(match[1]), reason: match[2] };
}

const LIFETIME_SECONDS = 96;

/** The documented rule for a certificate shorter-lived than 90 days, worked out here (not the handler's renewalTime, which a test of it must not borrow): a third of its lifetime before it expires. */
function renewalDue(served: Served): Date {
  const [from, to] = [new Date(served.validFrom).getTime(), new Date(served.validTo).getTime()];
  return new Date(to - (to - from) / 3);
}

describe("run renews a short-lived certificate before it expires and swaps the renewal into the running HAProxy", async () => {
  const lb = await startAcmeRun({ folder: "chh-it/lb/renew/", pebble: { validitySeconds: LIFETIME_SECONDS }, lb: { certificateCheckSeconds: 1 } });
  after(() => lb.stop());
  const tlsPort = lb.ports.tls;

  test(`a ${LIFETIME_SECONDS}-second certificate renewed a third before expiry: a new handshake gets the new one, pebble's, from the same worker; keys 0600`, async (t) => {
    await lb.putPortmap("r.test");
    const cli = startCli(["--config", lb.configFile, "run"]);
    running.push(cli);
    const isPebbles = (served: Served | undefined): served is Served => served !== undefined && /Pebble/i.test(served.issuer);
    const first = await withHandlerLines(cli.logs, eventually(() => servedCertificate(tlsPort, "r.test"), isPebbles, "pebble's first certificate served", 60_000, { intervalMs: 100 }));
    const worker = await lb.haproxy.workerPid();
    const due = renewalDue(first);
    const expiry = new Date(first.validTo);
    assert.ok(expiry.getTime() - new Date(first.validFrom).getTime() <= (LIFETIME_SECONDS + 1) * 1000, `pebble's lifetime is short: ${first.validFrom} to ${first.validTo}`);
    const statusBefore = (await runCli(["--config", lb.configFile, "status"])).stdout;
    const planned = nextOrderOf(statusBefore.split("\n").find((line) => line.startsWith("certificate r.test:")) ?? "");
    assert.equal(planned.reason, "renewal", statusBefore);
    assert.ok(Math.abs(planned.at.getTime() - due.getTime()) <= 1000, `status plans the renewal a third of the lifetime before expiry (${due.toISOString()}): ${statusBefore}`);
    t.diagnostic(`first certificate ${first.serialNumber} valid ${first.validFrom} to ${first.validTo}; renewal due ${due.toISOString()}`);

    const renewed = await withHandlerLines(cli.logs, eventually(() => servedCertificate(tlsPort, "r.test"), (served): served is Served => isPebbles(served) && served.fingerprint !== first.fingerprint, "a renewed certificate served", LIFETIME_SECONDS * 1000, { intervalMs: 200 }));
    const seenAt = Date.now();
    t.diagnostic(`renewed certificate ${renewed.serialNumber} seen ${(seenAt - due.getTime()) / 1000} s after the renewal was due, ${(expiry.getTime() - seenAt) / 1000} s before the first expired`);
    assert.ok(seenAt >= due.getTime() - 1000, "not renewed before it was due");
    assert.ok(seenAt < expiry.getTime(), "renewed before the first certificate expired");
    assert.notEqual(renewed.serialNumber, first.serialNumber);
    assert.equal(renewed.issuer, first.issuer, "the same CA");
    assert.match(renewed.names, /DNS:r\.test/);
    assert.ok(new Date(renewed.validTo) > expiry, "the renewal outlives the first certificate");
    assert.equal(await verifyServed(tlsPort, "r.test", await lb.pebble.rootPem()), "verified", "the renewal chains to pebble's root for r.test");

    assert.equal(await lb.haproxy.workerPid(), worker, "the same HAProxy worker serves the renewal");
    const logs = cli.logs();
    assert.equal(count(logs, "HAProxy reloaded with the portmap"), 1, "one reload (the first rendering); the renewal came over the runtime API");
    assert.equal(count(logs, "certificate issued"), 2, "the first order and the renewal");
    assert.equal(count(logs, "certificate swapped into the running HAProxy"), 2);
    assert.equal(count(logs, "certificate order failed; the served certificate stays"), 0);
    assert.doesNotMatch(logs, /BEGIN [A-Z ]*PRIVATE KEY/, "no key in the log");
    for (const file of [join(lb.certDirectory, "r.test.pem"), join(lb.certificateStateDirectory, "r.test.pem"), join(lb.certificateStateDirectory, "account.key")]) assert.equal(fileMode(file), "600", file);
    const metrics = await lb.metrics();
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="issued"\} 2$/m, "two orders, both issued");
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="failed"\} 0$/m);
    const statusAfter = (await runCli(["--config", lb.configFile, "status"])).stdout;
    const line = statusAfter.split("\n").find((candidate) => candidate.startsWith("certificate r.test:")) ?? "";
    assert.match(line, new RegExp(`issued by CN=${renewed.issuer}, not after ${new Date(renewed.validTo).toISOString().replace(".000Z", "")}`), statusAfter);
    const next = nextOrderOf(line);
    assert.equal(next.reason, "renewal");
    assert.ok(Math.abs(next.at.getTime() - renewalDue(renewed).getTime()) <= 1000, `the next renewal planned from the renewed certificate: ${line}`);
    assert.equal(await cli.stop(), 0);
  });
});

describe("run against a CA that refuses the name: the placeholder stays, the reason is told, the retry backs off", async () => {
  const lb = await startAcmeRun({ folder: "chh-it/lb/refused/", pebble: { blocklist: ["refused.test"] }, lb: { certificateCheckSeconds: 1 } });
  after(() => lb.stop());
  const tlsPort = lb.ports.tls;
  /** Orders pebble was sent (its log line for each new-order request). */
  const ordersAtPebble = (): number => (lb.pebble.log().match(/POST \/order-plz/g) ?? []).length;

  test("refused.test on pebble's blocklist: the placeholder served, pebble's reason logged and in status with the count, the failure counted, one order over 8 s of one-second checks", async (t) => {
    await lb.putPortmap("refused.test");
    const cli = startCli(["--config", lb.configFile, "run"]);
    running.push(cli);
    const failed = await withHandlerLines(cli.logs, eventually(async () => logged(cli.logs(), "certificate order failed; the served certificate stays"), (lines) => lines.length > 0, "the refused order logged", 60_000, { intervalMs: 100 }));
    const failedAt = Date.now();
    assert.match(String(failed[0]?.reason), /forbidden by policy: "refused\.test"/, "pebble's reason in the log");
    assert.equal(failed[0]?.failures, 1);
    assert.equal(failed[0]?.served, "self-signed");

    // A window of one-second checks: none of them orders again (the retry waits a minute).
    const windowMs = 8000;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const served = await servedCertificate(tlsPort, "refused.test");
    assert.ok(served !== undefined && served.issuer === served.subject && served.issuer === "refused.test", `the self-signed placeholder still served: ${JSON.stringify(served)}`);
    assert.match(served.names, /DNS:refused\.test/);
    const orders = ordersAtPebble();
    t.diagnostic(`orders pebble received, ${(Date.now() - failedAt) / 1000} s after the refusal: ${orders}`);
    assert.ok(orders >= 1, `pebble was asked: ${lb.pebble.log().slice(-2000)}`);
    assert.equal(orders, 1, "one order: the next waits for its backoff, not for the next check");
    const logs = cli.logs();
    assert.equal(count(logs, "certificate order failed; the served certificate stays"), 1);
    assert.equal(count(logs, "certificate issued"), 0);
    const metrics = await lb.metrics();
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="failed"\} 1$/m, "the refusal counted");
    assert.match(metrics, /^consul_haproxy_handler_certificate_orders_total\{result="issued"\} 0$/m);

    const status = await runCli(["--config", lb.configFile, "status"]);
    const line = status.stdout.split("\n").find((candidate) => candidate.startsWith("certificate refused.test:")) ?? "";
    assert.match(line, /^certificate refused\.test: self-signed placeholder, not after \S+, next order \S+ \(retry\); last error \(1 in a row\): .*forbidden by policy: "refused\.test"/, status.stdout);
    const next = nextOrderOf(line);
    const now = Date.now();
    t.diagnostic(`status: next order in ${(next.at.getTime() - now) / 1000} s`);
    assert.ok(next.at.getTime() > now + 30_000, `the next order is later, not at the next check: ${line}`);
    assert.ok(next.at.getTime() <= failedAt + 61_000, `a minute after the first failure: ${line}`);
    assert.equal(await cli.stop(), 0);
  });
});

// The one-second checks and a first rendering that takes seconds (a loaded
// machine; here `haproxy -c` made 3 s slower): a check that came during the
// rendering must not order, since pebble would find no http listener yet and
// the refused order would hold the certificate back a minute.
describe("run with a slow first rendering: no order before the rendering that has the http listener is in HAProxy", async () => {
  const wrapper = join(mkdtempSync(join(tmpdir(), "cht-slow-haproxy-")), "haproxy");
  const lb = await startAcmeRun({ folder: "chh-it/lb/slow/", lb: { certificateCheckSeconds: 1, haproxyBinary: wrapper } });
  after(() => lb.stop());
  const haproxyBinary = execFileSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" }).trim();
  writeFileSync(wrapper, `#!/bin/sh\nsleep 3\nexec ${JSON.stringify(haproxyBinary)} "$@"\n`);
  chmodSync(wrapper, 0o755);

  test("a 3-second `haproxy -c` with one-second checks: the first order is issued, none failed", async (t) => {
    assert.equal((lb.handlerConfig.lb as Record<string, unknown>).haproxyBinary, wrapper, "the handler checks through the slow wrapper");
    const putAt = await lb.putPortmap("s.test");
    const cli = startCli(["--config", lb.configFile, "run"]);
    running.push(cli);
    const served = await withHandlerLines(cli.logs, eventually(() => servedCertificate(lb.ports.tls, "s.test"), (candidate) => candidate !== undefined && /Pebble/i.test(candidate.issuer), "pebble's certificate served", 60_000, { intervalMs: 100 }));
    t.diagnostic(`KV PUT -> pebble's certificate served: ${Date.now() - putAt} ms`);
    assert.match(served?.names ?? "", /DNS:s\.test/);
    const logs = cli.logs();
    assert.equal(count(logs, "HAProxy reloaded with the portmap"), 1, "the first rendering reloaded HAProxy");
    assert.equal(count(logs, "certificate order failed; the served certificate stays"), 0, "no order before the http listener was there");
    assert.equal(count(logs, "certificate issued"), 1);
    assert.match(await lb.metrics(), /^consul_haproxy_handler_certificate_orders_total\{result="failed"\} 0$/m);
    assert.equal(await cli.stop(), 0);
  });
});
