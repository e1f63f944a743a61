// TLS certificates swapped into a running HAProxy over the runtime API (#18),
// no reload: a frontend `bind ... ssl crt <directory>` serving a.test, then
// (a) a new certificate for a.test set and committed while clients make new
// TLS handshakes in a loop: every handshake begun after the commit's reply
// gets the new certificate, none fails, the process is the same; (b) a
// certificate for b.test added at runtime (new, set, commit, add ssl
// crt-list on the directory): SNI b.test gets it, a.test keeps its own;
// (c) a key that does not match its certificate: the commit is refused, the
// abort clears the transaction, a.test is served as before.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTlsHaproxy } from "../../harness/haproxy.js";
import { issueCertificate, makeTestCa, type TlsMaterial } from "../../harness/backends.js";
import { eventually } from "../../harness/eventually.js";
import { commands, RuntimeApiClient } from "../../../handler/haproxy-runtime-api/index.js";
import { attemptLoops, hrNow, type Attempt } from "../../harness/load.js";

/** What a client saw of the server's certificate. */
interface Seen {
  serial: string;
  fingerprint256: string;
}

/** The certificate a file holds, as a client would see it. */
function identity(certFile: string): Seen {
  const certificate = new X509Certificate(readFileSync(certFile));
  return { serial: certificate.serialNumber, fingerprint256: certificate.fingerprint256 };
}

/** One full TLS handshake (no session resumption) with `servername` as SNI. */
function handshake(port: number, servername: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
    // Generous: the machine is shared; a hang fails the handshake, it does not hold the test.
    socket.setTimeout(15_000, () => socket.destroy(new Error(`TLS handshake with SNI ${servername} timed out`)));
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve({ serial: peer.serialNumber, fingerprint256: peer.fingerprint256 });
    });
    socket.once("error", reject);
  });
}

type Handshake = Attempt<Seen>;

/** `clients` loops of new handshakes until stop(). */
function tlsLoad(port: number, servername: string, clients: number): { done: Handshake[]; stop(): Promise<void> } {
  return attemptLoops(clients, () => handshake(port, servername));
}

const now = hrNow;

/** A store file's content: the certificate, its chain (the test CA) and its key. */
const pemOf = (material: TlsMaterial, key = material.keyFile): string => [material.certFile, material.caFile, key].map((file) => readFileSync(file, "utf8")).join("");

/** HAProxy prints the SHA-1 fingerprint as hex without colons. */
const sha1 = (certFile: string): string => new X509Certificate(readFileSync(certFile)).fingerprint.replace(/:/g, "");

describe("TLS certificates swapped over the runtime API, no reload", async () => {
  const ca = makeTestCa();
  const a1 = issueCertificate(ca, "a.test", { altNames: ["DNS:a.test"] });
  const a2 = issueCertificate(ca, "a.test", { altNames: ["DNS:a.test"] });
  const a3 = issueCertificate(ca, "a.test", { altNames: ["DNS:a.test"] });
  const b = issueCertificate(ca, "b.test", { altNames: ["DNS:b.test"] });
  const crtDir = mkdtempSync(join(tmpdir(), "cht-crt-"));
  const aFile = join(crtDir, "a.test.pem");
  const bFile = join(crtDir, "b.test.pem");
  writeFileSync(aFile, pemOf(a1));

  const { haproxy, adminPort, tlsPort } = await startTlsHaproxy(crtDir, "ok");
  after(() => haproxy.stop());
  const client = new RuntimeApiClient(`127.0.0.1:${adminPort}`, { timeoutMs: 15_000 });
  const startInfo = await client.showInfo();

  test("(a) set + commit under a TLS load: new handshakes get the new certificate, none fails, same process", async (t) => {
    t.diagnostic(`HAProxy ${startInfo.version}`);
    assert.deepEqual(await handshake(tlsPort, "a.test"), identity(a1.certFile), "a.test is served a1 before the swap");

    const load = tlsLoad(tlsPort, "a.test", 4);
    let committedAt = Number.POSITIVE_INFINITY;
    try {
      await eventually(async () => load.done.length, (count) => count >= 20, "20 handshakes before the swap", 60_000, { intervalMs: 100 });
      const replies = await client.execute([commands.setSslCert(aFile, pemOf(a2)), commands.commitSslCert(aFile)]);
      committedAt = now();
      assert.deepEqual(replies.map((reply) => reply.ok), [true, true], JSON.stringify(replies));
      assert.equal(replies[0]!.output, `Transaction created for certificate ${aFile}!`);
      t.diagnostic(`commit reply: ${JSON.stringify(replies[1]!.output)}`);
      // Enough handshakes begun after the commit's reply to mean something.
      await eventually(async () => load.done.filter((record) => record.startedAt > committedAt).length, (count) => count >= 40, "40 handshakes begun after the commit", 120_000, { intervalMs: 100 });
    } finally {
      await load.stop();
    }

    const failed = load.done.filter((record) => record.error !== undefined);
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${load.done.length} handshakes failed`);
    const after_ = load.done.filter((record) => record.startedAt > committedAt);
    const stale = after_.filter((record) => record.seen?.fingerprint256 !== identity(a2.certFile).fingerprint256);
    assert.deepEqual(stale.slice(0, 3), [], `${stale.length} of ${after_.length} handshakes begun after the commit got another certificate`);
    assert.ok(after_.every((record) => record.seen?.serial === identity(a2.certFile).serial));
    const before = load.done.filter((record) => record.startedAt < committedAt && record.seen?.fingerprint256 === identity(a1.certFile).fingerprint256);
    assert.ok(before.length >= 20, `the load saw a1 before the swap (${before.length} handshakes)`);
    t.diagnostic(`${load.done.length} handshakes, ${before.length} got a1 before the commit, ${after_.length} begun after it all got a2, 0 failed`);

    assert.equal((await client.showInfo()).pid, startInfo.pid, "the same HAProxy process: no reload, no restart");
    const shown = await client.showSslCert(aFile);
    assert.equal(shown.status, "Used");
    assert.equal(shown.certificate?.sha1Fingerprint, sha1(a2.certFile));
    assert.deepEqual(shown.certificate?.dnsNames, ["a.test"]);
    assert.deepEqual(shown.certificate?.chainSubjects, ["/CN=consul-haproxy-handler test CA"]);
  });

  test("(b) a certificate for a new name, added at runtime to the crt directory: SNI b.test gets it, a.test keeps its own", async () => {
    // Before: no certificate names b.test, so HAProxy answers with its default (a.test's).
    assert.deepEqual(await handshake(tlsPort, "b.test"), identity(a2.certFile));
    const replies = await client.execute([commands.newSslCert(bFile), commands.setSslCert(bFile, pemOf(b)), commands.commitSslCert(bFile), commands.addSslCrtList(crtDir, bFile)]);
    assert.deepEqual(replies.map((reply) => reply.ok), [true, true, true, true], JSON.stringify(replies));

    assert.deepEqual(await handshake(tlsPort, "b.test"), identity(b.certFile));
    assert.deepEqual(await handshake(tlsPort, "a.test"), identity(a2.certFile));
    const stores = await client.showSslCerts();
    assert.deepEqual(stores, { transaction: undefined, files: [aFile, bFile].sort() });
    const shown = await client.showSslCert(bFile);
    assert.equal(shown.status, "Used");
    assert.deepEqual(shown.certificate?.dnsNames, ["b.test"]);
    assert.equal(shown.certificate?.subject, "/CN=b.test");
    assert.equal((await client.showInfo()).pid, startInfo.pid);
  });

  test("(c) a key that does not match its certificate: the commit is refused, abort clears it, a.test is served as before", async () => {
    const mismatched = commands.setSslCert(aFile, pemOf(a3, b.keyFile));
    const [set, commit] = await client.execute([mismatched, commands.commitSslCert(aFile)]);
    // HAProxy checks the key against the certificate at the commit, not at the set.
    assert.equal(set?.ok, true, set?.output);
    assert.equal(commit?.ok, false, commit?.output);
    assert.match(commit!.output, /inconsistencies between private key and certificate/);
    assert.equal((await client.showSslCerts()).transaction, aFile, "the refused transaction is still open");

    const [abort] = await client.execute([commands.abortSslCert(aFile)]);
    assert.equal(abort?.ok, true, abort?.output);
    assert.equal((await client.showSslCerts()).transaction, undefined, "abort closed it");
    // A new transaction, for another file, can be opened: nothing was left behind.
    const [another, anotherAbort] = await client.execute([commands.setSslCert(bFile, pemOf(b)), commands.abortSslCert(bFile)]);
    assert.equal(another?.output, `Transaction created for certificate ${bFile}!`);
    assert.equal(anotherAbort?.ok, true);

    assert.deepEqual(await handshake(tlsPort, "a.test"), identity(a2.certFile), "a.test still gets a2");
    assert.equal((await client.showSslCert(aFile)).certificate?.sha1Fingerprint, sha1(a2.certFile));
    assert.equal((await client.showInfo()).pid, startInfo.pid);
  });
});
