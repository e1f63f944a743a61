// The certificate manager on disk (handler/certificates/manager.ts) with a CA
// of the test's own in place of ACME: the placeholder made once, a failed
// order that leaves the served certificate and backs off, an issued one that
// replaces it, and no secret in the records or the log.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AcmeOrderError, type orderCertificate } from "../../../handler/certificates/acme.js";
import { MemoryChallengeStore } from "../../../handler/certificates/challenge.js";
import { CertificateManager } from "../../../handler/certificates/manager.js";
import { CertificateStore } from "../../../handler/certificates/store.js";
import { makeTinyCa } from "../../harness/tiny-ca.js";

const MINUTE = 60_000;
const token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

function setup() {
  const directory = join(mkdtempSync(join(tmpdir(), "cht-certs-")), "certificates");
  const store = new CertificateStore(directory);
  const ca = makeTinyCa("Manager Test CA");
  // From the real now: the test CA dates its certificates by the real clock.
  let clock = Date.now();
  const orders: string[][] = [];
  const accountKeys: string[] = [];
  let refuse: string | undefined;
  const order: typeof orderCertificate = async (_options, accountKey, names) => {
    orders.push([...names]);
    accountKeys.push(accountKey);
    // The CA's reason as pebble words it: the token in the challenge URL.
    if (refuse !== undefined) throw new AcmeOrderError(names, `${refuse}: http://a.test/.well-known/acme-challenge/${token} returned 404`);
    const leaf = ca.issue(names, 90);
    return { chain: `${leaf.certPem}${ca.caPem}`, key: leaf.keyPem };
  };
  const logged: string[] = [];
  const log = {
    info: (message: string, fields: Record<string, unknown>) => logged.push(`${message} ${JSON.stringify(fields)}`),
    warn: (message: string, fields: Record<string, unknown>) => logged.push(`${message} ${JSON.stringify(fields)}`),
  };
  const manager = new CertificateManager({ store, acme: { directoryUrl: "https://ca.invalid/dir" }, challenges: new MemoryChallengeStore(), log, now: () => new Date(clock), order });
  return {
    directory, store, manager, orders, accountKeys, logged,
    advance: (ms: number) => (clock += ms),
    now: () => new Date(clock).toISOString(),
    refuse: (reason: string | undefined) => (refuse = reason),
  };
}

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

describe("CertificateManager", () => {
  test("the placeholder: written once (0600) and kept; due at once", async () => {
    const { manager, store, directory } = setup();
    const record = await manager.ensure(["a.test", "b.test"]);
    const pem = store.readPem("a.test")!;
    assert.equal(mode(join(directory, "a.test.pem")), "600");
    assert.equal(mode(directory), "700");
    assert.equal(record.selfSigned, true);
    assert.deepEqual(record.servedNames, ["a.test", "b.test"]);
    assert.equal(record.nextOrderReason, "placeholder");
    await manager.ensure(["a.test", "b.test"]);
    assert.equal(store.readPem("a.test"), pem, "the placeholder is made once");
    await manager.ensure(["a.test", "c.test"]);
    assert.notEqual(store.readPem("a.test"), pem, "a placeholder for other names is made anew");
  });

  test("a refused order keeps the placeholder, records the reason without the token, and backs off 1, 2, 4 minutes", async () => {
    const env = setup();
    const names = ["a.test", "b.test"];
    await env.manager.ensure(names);
    const placeholder = env.store.readPem("a.test");
    env.refuse("Non-200 status code from HTTP");
    const started = env.now();
    let record = await env.manager.renewIfDue(names);
    assert.equal(env.orders.length, 1);
    assert.equal(env.store.readPem("a.test"), placeholder);
    assert.equal(record.failures, 1);
    assert.equal(record.lastError, "Non-200 status code from HTTP: http://a.test/.well-known/acme-challenge/[token] returned 404");
    assert.equal(record.nextOrderReason, "retry");
    assert.equal(Date.parse(record.nextOrderAt) - Date.parse(started), MINUTE);

    // Asked again and again before the minute is over: no order.
    for (let i = 0; i < 5; i += 1) {
      env.advance(10_000);
      record = await env.manager.renewIfDue(names);
    }
    assert.equal(env.orders.length, 1, "no order before the backoff is over");
    assert.equal(record.lastError?.startsWith("Non-200"), true, "the reason stays in the record until a success");

    env.advance(10_000);
    record = await env.manager.renewIfDue(names);
    assert.equal(env.orders.length, 2);
    assert.equal(record.failures, 2);
    assert.equal(Date.parse(record.nextOrderAt) - Date.parse(env.now()), 2 * MINUTE);
    env.advance(2 * MINUTE);
    record = await env.manager.renewIfDue(names);
    assert.equal(record.failures, 3);
    assert.equal(Date.parse(record.nextOrderAt) - Date.parse(env.now()), 4 * MINUTE);
    assert.equal(env.store.readPem("a.test"), placeholder);

    // The CA issues: served, the failure forgotten, the next order at renewal time (60 of 90 days).
    env.refuse(undefined);
    env.advance(4 * MINUTE);
    record = await env.manager.renewIfDue(names);
    assert.equal(env.orders.length, 4);
    assert.equal(record.selfSigned, false);
    assert.equal(record.issuer, "CN=Manager Test CA");
    assert.deepEqual(record.servedNames, names);
    assert.equal(record.failures, 0);
    assert.equal(record.lastError, undefined);
    assert.equal(record.nextOrderReason, "renewal");
    const lifetime = Date.parse(record.notAfter) - Date.parse(record.notBefore);
    assert.equal(Date.parse(record.notAfter) - Date.parse(record.nextOrderAt), lifetime / 3);
    const issued = env.store.readPem("a.test")!;
    assert.match(issued, /BEGIN PRIVATE KEY/);
    assert.equal(mode(join(env.directory, "a.test.pem")), "600");

    // A renewal the CA refuses: the issued certificate stays.
    env.refuse("Order included an identifier for which issuance is forbidden by policy");
    env.advance(2 * MINUTE);
    record = await env.manager.issue(names);
    assert.equal(env.store.readPem("a.test"), issued);
    assert.equal(record.selfSigned, false);
    assert.equal(record.failures, 1);
    assert.match(record.lastError ?? "", /forbidden by policy/);

    // One account key, 0600, the same for every order.
    assert.equal(new Set(env.accountKeys).size, 1);
    assert.equal(mode(join(env.directory, "account.key")), "600");
    assert.equal(readFileSync(join(env.directory, "account.key"), "utf8"), env.accountKeys[0]);

    // Nothing secret in the records, `status`, or the log.
    const everything = [readFileSync(join(env.directory, "a.test.json"), "utf8"), JSON.stringify(env.manager.status()), ...env.logged].join("\n");
    assert.ok(!everything.includes(token), "a challenge token leaked");
    assert.ok(!everything.includes("PRIVATE KEY"), "a key leaked");
    assert.ok(!everything.includes(env.accountKeys[0]!.split("\n")[1]!), "the account key leaked");
    assert.equal(mode(join(env.directory, "a.test.json")), "644");
    assert.ok(env.logged.some((line) => line.startsWith("certificate order failed; the served certificate stays")));
    assert.ok(env.logged.some((line) => line.startsWith("certificate issued")));
  });

  test("a name added to certificate_name: a new order at once; two calls at once: one order", async () => {
    const env = setup();
    await env.manager.issue(["a.test"]);
    env.advance(MINUTE);
    const record = await env.manager.ensure(["a.test", "b.test"]);
    assert.equal(record.nextOrderReason, "names changed");
    assert.equal(record.selfSigned, false, "the CA's certificate for a.test is served meanwhile");
    const [first, second] = await Promise.all([env.manager.renewIfDue(["a.test", "b.test"]), env.manager.issue(["a.test", "b.test"])]);
    assert.equal(env.orders.length, 2);
    assert.deepEqual(first.servedNames, ["a.test", "b.test"]);
    assert.deepEqual(second.servedNames, ["a.test", "b.test"]);
  });

  test("a failure that is not the CA's (acme_ca_file missing): recorded the same way, with what to do", async () => {
    const env = setup();
    const manager = new CertificateManager({ store: env.store, acme: { directoryUrl: "https://ca.invalid/dir", caFile: "/nonexistent/ca.pem" }, challenges: new MemoryChallengeStore() });
    const record = await manager.issue(["a.test"]);
    assert.equal(record.failures, 1);
    assert.match(record.lastError ?? "", /acme_ca_file \/nonexistent\/ca\.pem: cannot read it \(ENOENT\); put there the CA certificate/);
    assert.equal(record.selfSigned, true);
  });
});

describe("CertificateManager: names", () => {
  test("a wildcard is refused before any order or file, saying why", async () => {
    const env = setup();
    await assert.rejects(env.manager.issue(["a.test", "*.a.test"]), /wildcard name can only be proved over DNS-01/);
    assert.equal(env.orders.length, 0);
    assert.equal(env.store.readPem("a.test"), undefined);
  });

  test("names in upper case or twice: one certificate, named in lower case", async () => {
    const env = setup();
    const record = await env.manager.issue(["A.test", "b.TEST", "a.test"]);
    assert.deepEqual(env.orders, [["a.test", "b.test"]]);
    assert.deepEqual(record.names, ["a.test", "b.test"]);
  });
});
