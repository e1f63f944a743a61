// swapCertificate against a real HAProxy (issue 18): a frontend `bind ... ssl
// crt <directory>` whose directory holds a self-signed certificate for a.test
// (the handler's own placeholder, made by openssl). (a) a renewed a.test is
// swapped in: new handshakes get its serial and fingerprint, the file on disk
// is it (0600), same worker Pid; (b) the same under a TLS load of several
// clients making requests on new connections: none fails; (c) b.test, a file
// HAProxy has not loaded: new + set + commit + add ssl crt-list, SNI b.test
// gets it, and a store HAProxy holds but no bind uses is added by the next
// swap; (d) refused bundles (garbage HAProxy cannot read, a key that is
// not the certificate's, text that is no PEM at all): a.test keeps its
// certificate, on disk too, no transaction is left open, the error quotes no
// PEM; (e) what the swaps wrote is what HAProxy loads from the directory at
// its next start (a hidden temporary left there by a crash is skipped).
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTlsHaproxy } from "../../harness/haproxy.js";
import { eventually } from "../../harness/eventually.js";
import { commands, RuntimeApiClient } from "../../../handler/haproxy-runtime-api/index.js";
import { selfSignedBundle } from "../../../handler/certificates/self-signed.js";
import { pemBlocks } from "../../../handler/certificates/pem.js";
import { CertificateSwapError, swapCertificate } from "../../../handler/lb/certificate-swap.js";
import { attemptLoops, hrNow, type Attempt } from "../../harness/load.js";

/** What a client saw of the server's certificate. */
interface Seen {
  serial: string;
  fingerprint256: string;
}

const leafOf = (bundle: string): string => pemBlocks(bundle, (label) => label === "CERTIFICATE")[0] ?? "";
const keyOf = (bundle: string): string => pemBlocks(bundle, (label) => label.endsWith("PRIVATE KEY"))[0] ?? "";

/** The leaf of a bundle, as a client sees it. */
function identity(bundle: string): Seen {
  const certificate = new X509Certificate(leafOf(bundle));
  return { serial: certificate.serialNumber, fingerprint256: certificate.fingerprint256 };
}

const now = hrNow;

type Request = Attempt<Seen>;

/** A new TLS connection (full handshake, no resumption) with `servername` as SNI, one request on it; resolves with the certificate once the response is whole. */
function request(port: number, servername: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
    // Generous: the machine is shared; a hang fails the request, it does not hold the test.
    socket.setTimeout(15_000, () => socket.destroy(new Error(`request with SNI ${servername} timed out`)));
    let seen: Seen | undefined;
    let response = "";
    socket.setEncoding("utf8");
    socket.once("secureConnect", () => {
      const peer = socket.getPeerCertificate();
      seen = { serial: peer.serialNumber, fingerprint256: peer.fingerprint256 };
      socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.on("data", (chunk: string) => (response += chunk));
    socket.once("end", () => {
      socket.destroy();
      if (seen && response.startsWith("HTTP/1.1 200") && response.endsWith("served")) resolve(seen);
      else reject(new Error(`bad response with SNI ${servername}: ${JSON.stringify(response.slice(0, 200))}`));
    });
    socket.once("error", reject);
  });
}

/** `clients` loops of new connections, one request each, until stop(). */
function tlsLoad(port: number, servername: string, clients: number): { done: Request[]; stop(): Promise<void> } {
  return attemptLoops(clients, () => request(port, servername));
}

/** Base64 lines of a key's body: none may appear in an error. */
const keyLines = (bundle: string): string[] => keyOf(bundle).split("\n").filter((line) => line !== "" && !line.startsWith("-----"));

function assertNoPem(message: string, bundle: string): void {
  assert.ok(!/-----(?:BEGIN|END) /.test(message), `the error quotes a PEM block: ${message}`);
  for (const line of keyLines(bundle)) assert.ok(!message.includes(line), `the error quotes the private key: ${message}`);
  for (const line of leafOf(bundle).split("\n").filter((text) => text.length > 20 && !text.startsWith("-----"))) assert.ok(!message.includes(line), `the error quotes the certificate: ${message}`);
}

describe("swapCertificate on a real HAProxy: no reload, same worker", async () => {
  const [a1, a2, a3, a4, b, c1, c2, other] = await Promise.all([["a.test"], ["a.test"], ["a.test"], ["a.test"], ["b.test"], ["c.test"], ["c.test"], ["other.test"]].map((names) => selfSignedBundle(names)));
  assert.ok(a1 && a2 && a3 && a4 && b && c1 && c2 && other);
  const crtDir = mkdtempSync(join(tmpdir(), "cht-crt-"));
  const aFile = join(crtDir, "a.test.pem");
  const bFile = join(crtDir, "b.test.pem");
  writeFileSync(aFile, a1, { mode: 0o600 });
  // What a crash between a temporary's write and its rename leaves: HAProxy must not load it (it would refuse to start).
  writeFileSync(join(crtDir, ".a.test.pem.tmp.999999"), "half a bundle\n", { mode: 0o600 });

  const { haproxy, adminPort, tlsPort } = await startTlsHaproxy(crtDir, "served");
  after(() => haproxy.stop());
  const client = new RuntimeApiClient(`127.0.0.1:${adminPort}`, { timeoutMs: 15_000 });
  const startInfo = await client.showInfo();

  test("(a) a renewed certificate for a loaded file: new handshakes get it, it is on disk (0600), same worker Pid", async (t) => {
    t.diagnostic(`HAProxy ${startInfo.version}, worker Pid ${startInfo.pid}`);
    assert.deepEqual(await request(tlsPort, "a.test"), identity(a1), "a.test is served a1 before the swap");
    assert.notDeepEqual(identity(a2), identity(a1));

    assert.deepEqual(await swapCertificate(client, { directory: crtDir, file: "a.test.pem", pem: a2 }), { kind: "replace", path: aFile });

    assert.deepEqual(await request(tlsPort, "a.test"), identity(a2), "a new handshake gets a2's serial and fingerprint");
    assert.equal(readFileSync(aFile, "utf8"), a2, "the file holds a2 for the next reload");
    assert.equal(statSync(aFile).mode & 0o777, 0o600);
    assert.equal((await client.showInfo()).pid, startInfo.pid, "the same worker: no reload, no restart");
    const shown = await client.showSslCert(aFile);
    assert.equal(shown.status, "Used");
    assert.equal(shown.certificate?.sha1Fingerprint, new X509Certificate(leafOf(a2)).fingerprint.replace(/:/g, ""));
  });

  test("(b) a swap under a TLS load of 6 clients, each request on a new connection: none fails, every one begun after the swap gets the new certificate", async (t) => {
    const load = tlsLoad(tlsPort, "a.test", 6);
    const loadedAt = now();
    let swapBegunAt = Number.POSITIVE_INFINITY;
    let swappedAt = Number.POSITIVE_INFINITY;
    try {
      // A few seconds of load in all (2 s before the swap, 3 s after), with enough requests on each side to mean something.
      await eventually(async () => load.done.length, (count) => count >= 30 && now() - loadedAt > 2000, "2 s and 30 requests before the swap", 60_000, { intervalMs: 50 });
      swapBegunAt = now();
      await swapCertificate(client, { directory: crtDir, file: "a.test.pem", pem: a3 });
      swappedAt = now();
      await eventually(async () => load.done.filter((record) => record.startedAt > swappedAt).length, (count) => count >= 60 && now() - swappedAt > 3000, "3 s and 60 requests begun after the swap", 120_000, { intervalMs: 50 });
    } finally {
      await load.stop();
    }
    const failed = load.done.filter((record) => record.error !== undefined);
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of ${load.done.length} requests failed`);
    const afterSwap = load.done.filter((record) => record.startedAt > swappedAt);
    const stale = afterSwap.filter((record) => record.seen?.fingerprint256 !== identity(a3).fingerprint256);
    assert.deepEqual(stale.slice(0, 3), [], `${stale.length} of ${afterSwap.length} requests begun after the swap got another certificate`);
    const beforeSwap = load.done.filter((record) => record.seen?.fingerprint256 === identity(a2).fingerprint256);
    assert.ok(beforeSwap.length >= 30, `the load saw a2 before the swap (${beforeSwap.length} requests)`);
    const during = load.done.filter((record) => record.startedAt >= swapBegunAt && record.startedAt <= swappedAt).length;
    t.diagnostic(`${load.done.length} requests, ${beforeSwap.length} got a2, ${during} begun during the swap (${Math.round(swappedAt - swapBegunAt)} ms), ${afterSwap.length} begun after it all got a3, 0 failed`);
    assert.equal((await client.showInfo()).pid, startInfo.pid);
    assert.equal(readFileSync(aFile, "utf8"), a3);
  });

  test("(c) a new name: b.test.pem, not loaded, is added (new + set + commit + add ssl crt-list); SNI b.test gets it, a.test keeps its own", async () => {
    // Before: no certificate names b.test, so HAProxy answers with its default (a.test's).
    assert.deepEqual(await request(tlsPort, "b.test"), identity(a3));
    assert.deepEqual(await swapCertificate(client, { directory: crtDir, file: "b.test.pem", pem: b }), { kind: "add", path: bFile });

    assert.deepEqual(await request(tlsPort, "b.test"), identity(b));
    assert.deepEqual(await request(tlsPort, "a.test"), identity(a3));
    assert.deepEqual(await client.showSslCerts(), { transaction: undefined, files: [aFile, bFile].sort() });
    assert.equal((await client.showSslCert(bFile)).status, "Used");
    assert.equal(readFileSync(bFile, "utf8"), b);
    assert.equal(statSync(bFile).mode & 0o777, 0o600);
    assert.equal((await client.showInfo()).pid, startInfo.pid);
  });

  test("(c) a store HAProxy holds but no bind uses (an earlier swap's add ssl crt-list refused): the next swap adds it", async () => {
    const cFile = join(crtDir, "c.test.pem");
    const replies = await client.execute([commands.newSslCert(cFile), commands.setSslCert(cFile, c1), commands.commitSslCert(cFile)]);
    assert.deepEqual(replies.map((reply) => reply.ok), [true, true, true], JSON.stringify(replies.map((reply) => reply.output)));
    assert.equal((await client.showSslCert(cFile)).status, "Unused");
    assert.deepEqual(await request(tlsPort, "c.test"), identity(a3), "not served: HAProxy answers with its default");

    assert.deepEqual(await swapCertificate(client, { directory: crtDir, file: "c.test.pem", pem: c2 }), { kind: "add", path: cFile });
    assert.deepEqual(await request(tlsPort, "c.test"), identity(c2));
    assert.equal((await client.showSslCert(cFile)).status, "Used");
    assert.equal((await client.showSslCerts()).transaction, undefined);
  });

  // Shaped like a bundle, so the payload check lets it through to HAProxy, which cannot read the certificate: refused at `set`.
  const unreadable = `-----BEGIN CERTIFICATE-----\n${"QUJD".repeat(16)}\n-----END CERTIFICATE-----\n${keyOf(a4)}`;
  // Both readable, the key another certificate's: HAProxy refuses only at `commit`, with the transaction open.
  const mismatched = `${leafOf(a4)}${keyOf(other)}`;
  for (const [what, pem, refused] of [
    ["a certificate HAProxy cannot read", unreadable, /refused 'set ssl cert/],
    ["a key that is not the certificate's", mismatched, /refused 'commit ssl cert[\s\S]*inconsistencies between private key and certificate/],
    ["text that is no PEM at all", `garbage\n${keyOf(a4)}`, /not a bundle HAProxy's runtime API takes[\s\S]*nothing was sent/],
  ] as const) {
    test(`(d) refused: ${what}: a.test keeps its certificate (served and on disk), no transaction is left open, the error quotes no PEM`, async (t) => {
      const error = await swapCertificate(client, { directory: crtDir, file: "a.test.pem", pem }).catch((caught: unknown) => caught);
      assert.ok(error instanceof CertificateSwapError, `a CertificateSwapError, not ${String(error)}`);
      t.diagnostic(error.message);
      assert.match(error.message, refused);
      assertNoPem(error.message, a4);
      assertNoPem(error.message, other);

      const stores = await client.showSslCerts();
      assert.equal(stores.transaction, undefined, "no transaction left open");
      assert.deepEqual(await request(tlsPort, "a.test"), identity(a3), "a.test still gets a3");
      assert.equal(readFileSync(aFile, "utf8"), a3, "the file on disk is unchanged");
      assert.equal((await client.showInfo()).pid, startInfo.pid);
    });
  }

  test("(e) the directory as the swaps left it is what HAProxy loads at its next start", async () => {
    await haproxy.restart();
    assert.notEqual((await client.showInfo()).pid, startInfo.pid, "a new HAProxy process");
    assert.deepEqual(await request(tlsPort, "a.test"), identity(a3));
    assert.deepEqual(await request(tlsPort, "b.test"), identity(b));
    assert.deepEqual(await request(tlsPort, "c.test"), identity(c2));
  });
});
