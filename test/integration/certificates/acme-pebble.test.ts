// Certificates over ACME against Debian's pebble on loopback (issue 18): the
// module's order goes through a real RFC 8555 exchange with real HTTP-01
// validation (pebble fetches http://<name>:<httpPort>/.well-known/acme-challenge/
// <token> from the responder below, which answers with answerChallenge), and
// a CA that refuses leaves the served certificate, records pebble's reason
// without the token, and backs off. See test/harness/pebble.ts for how pebble
// is started.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AcmeOrderError, orderCertificate } from "../../../handler/certificates/acme.js";
import { MemoryChallengeStore, answerChallenge } from "../../../handler/certificates/challenge.js";
import { CertificateManager } from "../../../handler/certificates/manager.js";
import { certificateFacts, pemBlocks, splitBundle } from "../../../handler/certificates/pem.js";
import { CertificateStore } from "../../../handler/certificates/store.js";
import { startPebble, type Pebble } from "../../harness/pebble.js";
import { freePort } from "../../harness/ports.js";

const DAY_SECONDS = 86_400;
const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

describe("certificates over ACME HTTP-01 against pebble", () => {
  let pebble: Pebble;
  let responder: Server;
  const challenges = new MemoryChallengeStore();
  /** Every request the CA made of the responder: host, path, status. */
  const requests: { host: string; path: string; status: number }[] = [];
  /** Hosts the responder answers 404 for, as a load balancer that lost the token would. */
  const unanswered = new Set<string>();
  const logged: string[] = [];
  const log = {
    info: (message: string, fields: Record<string, unknown>) => logged.push(`${message} ${JSON.stringify(fields)}`),
    warn: (message: string, fields: Record<string, unknown>) => logged.push(`${message} ${JSON.stringify(fields)}`),
  };
  let ordersPlaced = 0;
  const countingOrder: typeof orderCertificate = (...args) => {
    ordersPlaced += 1;
    return orderCertificate(...args);
  };
  /** Added to the manager's clock: the backoff is waited by moving it, not by sleeping. */
  let clockOffset = 0;

  function manager(directory: string): CertificateManager {
    return new CertificateManager({
      store: new CertificateStore(directory),
      acme: { directoryUrl: pebble.directoryUrl, email: "ops@example.org", caFile: pebble.caFile },
      challenges,
      log,
      now: () => new Date(Date.now() + clockOffset),
      order: countingOrder,
    });
  }

  const tokens = (): string[] => requests.map((request) => request.path.split("/").pop() ?? "").filter((token) => token.length > 0);

  before(async () => {
    const httpPort = await freePort();
    responder = createServer((request, response) => {
      const host = (request.headers.host ?? "").replace(/:\d+$/, "");
      void answerChallenge(request.url ?? "", challenges).then((keyAuthorization) => {
        const status = keyAuthorization === undefined || unanswered.has(host) ? 404 : 200;
        requests.push({ host, path: request.url ?? "", status });
        response.writeHead(status, { "content-type": "text/plain" });
        response.end(status === 200 ? keyAuthorization : "");
      });
    });
    await new Promise<void>((resolve) => responder.listen(httpPort, "127.0.0.1", resolve));
    // Six-day certificates: the short-lived branch of the renewal rule (a third of the lifetime ahead).
    pebble = await startPebble({ httpPort, blocklist: ["refused.test"], validitySeconds: 6 * DAY_SECONDS });
    console.log(`pebble started:\n  ${pebble.commands.join("\n  ")}\n  config ${pebble.configFile}: ${readFileSync(pebble.configFile, "utf8")}`);
  });

  after(async () => {
    await pebble?.stop();
    await new Promise<void>((resolve) => (responder ? responder.close(() => resolve()) : resolve()));
  });

  test("one certificate for a.test and b.test: both names validated over HTTP-01, the PEM chains to pebble's root and names both", async () => {
    const directory = join(mkdtempSync(join(tmpdir(), "cht-acme-")), "certificates");
    const certificates = manager(directory);
    const placeholder = await certificates.ensure(["a.test", "b.test"]);
    assert.equal(placeholder.selfSigned, true);

    const record = await certificates.issue(["a.test", "b.test"]);
    assert.equal(record.lastError, undefined, `the order failed: ${record.lastError}\n${pebble.log().slice(-3000)}`);
    assert.equal(record.selfSigned, false);
    assert.match(record.issuer, /Pebble Intermediate CA/);
    assert.deepEqual([...record.servedNames].sort(), ["a.test", "b.test"]);

    // pebble asked the responder for each name's token, and got the key authorization.
    for (const name of ["a.test", "b.test"]) {
      assert.ok(requests.some((request) => request.host === name && request.path.startsWith("/.well-known/acme-challenge/") && request.status === 200), `no validation of ${name}: ${JSON.stringify(requests)}`);
    }
    assert.equal(challenges.size, 0, "the order removed its challenge responses");

    const pem = readFileSync(join(directory, "a.test.pem"), "utf8");
    const { certificates: chain } = splitBundle(pem, "a.test.pem");
    const leaf = new X509Certificate(chain[0]!);
    const intermediate = new X509Certificate(chain[1]!);
    const root = new X509Certificate(pemBlocks(await pebble.rootPem(), (label) => label === "CERTIFICATE")[0]!);
    assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey), "the leaf is signed by the chain's intermediate");
    assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey), "the intermediate is signed by pebble's root");
    assert.deepEqual([...certificateFacts(pem).names].sort(), ["a.test", "b.test"]);
    assert.match(leaf.subjectAltName ?? "", /DNS:a\.test/);
    assert.match(leaf.subjectAltName ?? "", /DNS:b\.test/);

    // Keys 0600; the account key made once; the renewal due a third of the six days ahead.
    assert.equal(mode(join(directory, "a.test.pem")), "600");
    assert.equal(mode(join(directory, "account.key")), "600");
    const lifetime = Date.parse(record.notAfter) - Date.parse(record.notBefore);
    assert.ok(Math.abs(lifetime - 6 * DAY_SECONDS * 1000) < 5000, `pebble's lifetime: ${lifetime} ms`);
    // (to the millisecond: the record keeps ISO times)
    assert.ok(Math.abs(Date.parse(record.notAfter) - Date.parse(record.nextOrderAt) - lifetime / 3) <= 1, `renewal ${record.nextOrderAt} for ${record.notBefore}..${record.notAfter}`);
    assert.equal(record.nextOrderReason, "renewal");
  });

  test("pebble refuses an order (refused.test is on its blocklist): the self-signed certificate stays, pebble's reason is recorded, the retry backs off", async () => {
    const directory = join(mkdtempSync(join(tmpdir(), "cht-acme-")), "certificates");
    const certificates = manager(directory);
    const names = ["c.test", "refused.test"];
    await certificates.ensure(names);
    const placeholder = readFileSync(join(directory, "c.test.pem"), "utf8");
    const before = ordersPlaced;

    let record = await certificates.renewIfDue(names);
    assert.equal(ordersPlaced, before + 1);
    assert.equal(readFileSync(join(directory, "c.test.pem"), "utf8"), placeholder, "the placeholder is still served");
    assert.equal(record.selfSigned, true);
    assert.equal(record.failures, 1);
    assert.match(record.lastError ?? "", /forbidden by policy: "refused\.test"/);
    assert.equal(Date.parse(record.nextOrderAt) - Date.parse(record.lastOrderAt!), 60_000);
    assert.ok(logged.some((line) => line.startsWith("certificate order failed") && line.includes("refused.test")));

    // Asked again at once: no order (never a tight loop).
    record = await certificates.renewIfDue(names);
    assert.equal(ordersPlaced, before + 1);

    // A minute later: ordered again, refused again, next wait two minutes.
    clockOffset += 60_000;
    try {
      record = await certificates.renewIfDue(names);
    } finally {
      clockOffset -= 60_000;
    }
    assert.equal(ordersPlaced, before + 2);
    assert.equal(record.failures, 2);
    assert.equal(Date.parse(record.nextOrderAt) - Date.parse(record.lastOrderAt!), 120_000);
    assert.equal(readFileSync(join(directory, "c.test.pem"), "utf8"), placeholder);
    assert.deepEqual(JSON.parse(readFileSync(join(directory, "c.test.json"), "utf8")), record, "status reads what was recorded");
  });

  test("a renewal whose HTTP-01 validation fails (the responder answers 404): the issued certificate stays, the reason has no token", async () => {
    const directory = join(mkdtempSync(join(tmpdir(), "cht-acme-")), "certificates");
    const certificates = manager(directory);
    const first = await certificates.issue(["d.test"]);
    assert.equal(first.lastError, undefined, `the first order failed: ${first.lastError}`);
    const issued = readFileSync(join(directory, "d.test.pem"), "utf8");
    const accountKey = readFileSync(join(directory, "account.key"), "utf8");

    unanswered.add("d.test");
    let record;
    try {
      clockOffset += 60_000;
      record = await certificates.issue(["d.test"]);
    } finally {
      clockOffset -= 60_000;
      unanswered.delete("d.test");
    }
    assert.ok(requests.some((request) => request.host === "d.test" && request.status === 404), "pebble asked and was refused");
    assert.equal(readFileSync(join(directory, "d.test.pem"), "utf8"), issued, "the issued certificate is still served");
    assert.equal(record.selfSigned, false);
    assert.equal(record.failures, 1);
    assert.match(record.lastError ?? "", /404/);
    assert.equal(readFileSync(join(directory, "account.key"), "utf8"), accountKey, "the account key is kept");

    // No token, key authorization or key in any record or log line, though pebble's reason quoted the URL.
    const seen = [...new Set(tokens())];
    assert.ok(seen.length >= 4, `tokens seen: ${seen.length}`);
    const records = ["a.test", "c.test", "d.test"].map((id) => JSON.stringify(new CertificateStore(directory).readRecord(id) ?? {}));
    const everything = [...records, readFileSync(join(directory, "d.test.json"), "utf8"), ...logged].join("\n");
    for (const token of seen) assert.ok(!everything.includes(token), `token ${token.slice(0, 6)}… leaked`);
    assert.ok(!everything.includes("PRIVATE KEY"));
    assert.match(record.lastError ?? "", /acme-challenge\/\[token\]/);
  });

  test("a second order with the same account key and no acme_email: the account is found, not registered again", async () => {
    const store = new CertificateStore(join(mkdtempSync(join(tmpdir(), "cht-acme-")), "certificates"));
    const acme = { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile };
    // Each order is a new client, as after a restart: registering an existing account again
    // "updated" it with termsOfServiceAgreed alone, which pebble refuses as an empty update.
    for (const name of ["f.test", "g.test"]) {
      const issued = await orderCertificate(acme, store.accountKey(), [name], challenges);
      assert.match(issued.chain, /BEGIN CERTIFICATE/, `${name} issued`);
    }
  });

  test("orderCertificate itself: the AcmeOrderError it throws carries pebble's reason without the token", async () => {
    const directory = join(mkdtempSync(join(tmpdir(), "cht-acme-")), "certificates");
    unanswered.add("e.test");
    let error: unknown;
    try {
      await orderCertificate({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile }, new CertificateStore(directory).accountKey(), ["e.test"], challenges);
    } catch (caught) {
      error = caught;
    } finally {
      unanswered.delete("e.test");
    }
    assert.ok(error instanceof AcmeOrderError, `expected an AcmeOrderError, got ${String(error)}`);
    const token = requests.filter((request) => request.host === "e.test").map((request) => request.path.split("/").pop() ?? "")[0];
    assert.ok(token !== undefined && token.length > 0, "pebble asked for e.test's token");
    assert.ok(!error.message.includes(token) && !error.reason.includes(token), "the token is in the error");
    assert.match(error.message, /ACME order for e\.test failed: .*acme-challenge\/\[token\].*404/);
    assert.equal(challenges.size, 0);
  });
});
