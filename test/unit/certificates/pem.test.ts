// PEM handling (handler/certificates/pem.ts) and the self-signed placeholder
// (self-signed.ts): one file of leaf, chain and key, checked as HAProxy needs it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certificateFacts, joinBundle, pemBlocks, splitBundle } from "../../../handler/certificates/pem.js";
import { selfSignedBundle } from "../../../handler/certificates/self-signed.js";
import { makeTinyCa } from "../../harness/tiny-ca.js";

describe("PEM bundles", () => {
  const ca = makeTinyCa("Unit Test CA");
  const leaf = ca.issue(["a.test", "b.test"], 90);
  const other = ca.issue(["c.test"]);

  test("joinBundle: leaf, chain, key, whatever order and line ends they came in", () => {
    const bundle = joinBundle(`${leaf.certPem}${ca.caPem}`.replace(/\n/g, "\r\n"), leaf.keyPem);
    assert.deepEqual(pemBlocks(bundle, () => true).map((block) => block.split("\n")[0]), ["-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----"]);
    assert.ok(!bundle.includes("\r"));
    const { certificates, key } = splitBundle(bundle, "x.pem");
    assert.equal(new X509Certificate(certificates[0]!).subject, "CN=a.test");
    assert.equal(key, leaf.keyPem.endsWith("\n") ? leaf.keyPem : `${leaf.keyPem}\n`);
  });

  test("joinBundle refuses an answer with no certificate", () => {
    assert.throws(() => joinBundle("<html>rate limited</html>", leaf.keyPem), /not a PEM chain/);
  });

  test("splitBundle: a key that is not the leaf's, no key, two keys: refused, saying what to do, without quoting the file", () => {
    const cases = [
      joinBundle(leaf.certPem, other.keyPem),
      leaf.certPem,
      `${leaf.certPem}${leaf.keyPem}${other.keyPem}`,
      leaf.keyPem,
    ];
    for (const text of cases) {
      assert.throws(
        () => splitBundle(text, "/var/lib/x/a.test.pem"),
        (error: unknown) => error instanceof Error && /remove the file/.test(error.message) && !error.message.includes("BEGIN") && error.message.includes("a.test.pem"),
      );
    }
  });

  test("certificateFacts: SAN names, issuer, dates, not self-signed", () => {
    const facts = certificateFacts(joinBundle(`${leaf.certPem}${ca.caPem}`, leaf.keyPem));
    assert.deepEqual(facts.names, ["a.test", "b.test"]);
    assert.equal(facts.issuer, "CN=Unit Test CA");
    assert.equal(facts.selfSigned, false);
    const days = (facts.notAfter.getTime() - facts.notBefore.getTime()) / 86_400_000;
    assert.ok(days > 89 && days < 91, String(days));
  });

  test("the placeholder: self-signed for every name, key and certificate together, about ten years", async () => {
    const bundle = await selfSignedBundle(["a.test", "b.test"]);
    splitBundle(bundle, "placeholder");
    const facts = certificateFacts(bundle);
    assert.deepEqual(facts.names, ["a.test", "b.test"]);
    assert.equal(facts.selfSigned, true);
    assert.equal(facts.issuer, "CN=a.test");
    assert.ok(facts.notAfter.getTime() - Date.now() > 9 * 365 * 86_400_000);
  });

  test("the placeholder for a first name too long for a CN: the names in the SAN only", async () => {
    const long = `${"a".repeat(60)}.example.org`;
    const facts = certificateFacts(await selfSignedBundle([long]));
    assert.deepEqual(facts.names, [long]);
    assert.equal(facts.selfSigned, true);
  });
});
