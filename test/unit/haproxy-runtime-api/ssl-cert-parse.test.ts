// `show ssl cert` as HAProxy 2.6.12, 3.0.11 and 3.2.26 print it (captured in
// prompt mode, trimmed as the client trims a reply).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseOpensslTime, parseShowSslCert, parseShowSslCertList } from "../../../handler/haproxy-runtime-api/index.js";

const FILE = "/tmp/certs-exp/crt/a.test.pem";

/** 2.6.12 and 3.0.11: an EC certificate from a test CA, with the CA as its chain and an IP among its names. */
const DETAIL_2_6 = [
  `Filename: ${FILE}`,
  "Status: Used",
  "Serial: 3EE432015B45963ECDCD4F6AF78C77AA21AEFA43",
  "notBefore: Dec  7 13:26:37 2026 GMT",
  "notAfter: Dec  9 13:26:37 2026 GMT",
  "Subject Alternative Name: DNS:a.test, , DNS:www.a.test",
  "Algorithm: EC256",
  "SHA1 FingerPrint: 2BEE21929444DB97FD53115A5DFF9077C986DBAE",
  "Subject: /CN=a.test/O=chh",
  "Issuer: /CN=Test CA/O=chh",
  "Chain Subject: /CN=Test CA/O=chh",
  "Chain Issuer: /CN=Test CA/O=chh",
  "OCSP Response Key: ",
].join("\n");

/** 3.2.26: the same certificate; 3.2 adds the files a store was loaded from. */
const DETAIL_3_2 = [
  `Filename: ${FILE}`,
  `Crt filename: ${FILE}`,
  `Key filename: ${FILE}`,
  `OCSP filename: ${FILE}.ocsp`,
  `SCTL filename: ${FILE}.sctl`,
  ...DETAIL_2_6.split("\n").slice(1),
].join("\n");

describe("show ssl cert", () => {
  test("one certificate, 2.6 / 3.0 form", () => {
    const detail = parseShowSslCert(DETAIL_2_6);
    assert.equal(detail.filename, FILE);
    assert.equal(detail.transaction, false);
    assert.equal(detail.status, "Used");
    assert.deepEqual(detail.certificate, {
      serial: "3EE432015B45963ECDCD4F6AF78C77AA21AEFA43",
      notBefore: "Dec  7 13:26:37 2026 GMT",
      notAfter: "Dec  9 13:26:37 2026 GMT",
      notAfterDate: new Date("2026-12-09T13:26:37Z"),
      subject: "/CN=a.test/O=chh",
      issuer: "/CN=Test CA/O=chh",
      // HAProxy prints an empty entry for the IP name; only DNS names are kept.
      dnsNames: ["a.test", "www.a.test"],
      sha1Fingerprint: "2BEE21929444DB97FD53115A5DFF9077C986DBAE",
      algorithm: "EC256",
      chainSubjects: ["/CN=Test CA/O=chh"],
    });
    assert.equal(detail.raw["OCSP Response Key"], "");
  });

  test("3.2's extra lines change nothing parsed and are kept in raw", () => {
    const detail = parseShowSslCert(DETAIL_3_2);
    assert.deepEqual({ ...detail, raw: undefined }, { ...parseShowSslCert(DETAIL_2_6), raw: undefined });
    assert.equal(detail.raw["Key filename"], FILE);
  });

  test("the open transaction: '*' before the file; 3.2 says Uncommitted, 2.6 and 3.0 Unused", () => {
    const pending = parseShowSslCert(DETAIL_3_2.replace(`Filename: ${FILE}`, `Filename: *${FILE}`).replace("Status: Used", "Status: Uncommitted"));
    assert.equal(pending.filename, FILE);
    assert.equal(pending.transaction, true);
    assert.equal(pending.status, "Uncommitted");
  });

  test("several chain certificates, in order", () => {
    const detail = parseShowSslCert(DETAIL_2_6.replace("Chain Issuer: /CN=Test CA/O=chh", "Chain Issuer: /CN=Root/O=chh\nChain Subject: /CN=Root/O=chh\nChain Issuer: /CN=Root/O=chh"));
    assert.deepEqual(detail.certificate?.chainSubjects, ["/CN=Test CA/O=chh", "/CN=Root/O=chh"]);
  });

  test("an empty store (new ssl cert, not yet set): no certificate", () => {
    const detail = parseShowSslCert(`Filename: ${FILE}\nStatus: Empty\nOCSP Response Key: `);
    assert.equal(detail.status, "Empty");
    assert.equal(detail.certificate, undefined);
  });

  test("a reply without a Filename line is not a certificate", () => {
    assert.throws(() => parseShowSslCert("Can't display the certificate: Not found or the certificate is a bundle!"), /no Filename/);
  });

  test("OpenSSL's time form, padded day, fractional seconds; anything else is undefined", () => {
    assert.deepEqual(parseOpensslTime("Jan  1 00:00:00 2027 GMT"), new Date("2027-01-01T00:00:00Z"));
    assert.deepEqual(parseOpensslTime("Feb 28 23:59:59.5 2030 GMT"), new Date("2030-02-28T23:59:59Z"));
    assert.equal(parseOpensslTime("2027-01-01T00:00:00Z"), undefined);
    assert.equal(parseOpensslTime("Foo  1 00:00:00 2027 GMT"), undefined);
  });

  test("the list: stores, and the open transaction's file", () => {
    assert.deepEqual(parseShowSslCertList(`# filename\n${FILE}\n/etc/haproxy/certs/b.test.pem`), { transaction: undefined, files: [FILE, "/etc/haproxy/certs/b.test.pem"] });
    assert.deepEqual(parseShowSslCertList(`# transaction\n*${FILE}\n# filename\n${FILE}`), { transaction: FILE, files: [FILE] });
    assert.deepEqual(parseShowSslCertList("# filename"), { transaction: undefined, files: [] });
  });
});
