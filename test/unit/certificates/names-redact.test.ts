// certificate_name's names (handler/certificates/names.ts) and the redaction
// of a CA's reason (redact.ts): no token, key authorization or PEM in it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CertificateNameError, certificateId, orderableNames } from "../../../handler/certificates/names.js";
import { MAX_REASON_LENGTH, redact } from "../../../handler/certificates/redact.js";

describe("orderableNames", () => {
  test("lower case, each once, first name first", () => {
    assert.deepEqual(orderableNames(["WWW.Example.org", "example.org", "www.example.org"]), ["www.example.org", "example.org"]);
    assert.equal(certificateId(["www.example.org", "example.org"]), "www.example.org");
  });

  const bad: [string[], RegExp][] = [
    [["a.test", "*.example.org"], /wildcard.*DNS-01/],
    [["a.test", ""], /empty name/],
    [[], /no name/],
    [["192.0.2.1"], /IP address/],
    [["::1"], /IP address/],
    [["../etc/passwd"], /not a DNS label/],
    [["a_b.test"], /not a DNS label/],
    [["-a.test"], /not a DNS label/],
    [[`${"a".repeat(64)}.test`], /not a DNS label/],
    [[`${"a.".repeat(127)}test`], /longer than 253/],
  ];
  for (const [value, reason] of bad) {
    test(`refused with a reason: ${JSON.stringify(value).slice(0, 40)}`, () => {
      assert.throws(() => orderableNames(value), (error: unknown) => error instanceof CertificateNameError && reason.test(error.message));
    });
  }
});

describe("redact", () => {
  const token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
  const keyAuthorization = `${token}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

  test("a challenge URL's token, in the CA's words", () => {
    const reason = redact(`Non-200 status code from HTTP: http://a.test:5002/.well-known/acme-challenge/${token} returned 404`);
    assert.equal(reason, "Non-200 status code from HTTP: http://a.test:5002/.well-known/acme-challenge/[token] returned 404");
  });

  test("the order's tokens and key authorizations anywhere, the key authorization whole", () => {
    const reason = redact(`expected ${keyAuthorization}, token ${token}`, [token, keyAuthorization]);
    assert.equal(reason, "expected [redacted], token [redacted]");
  });

  test("PEM blocks, even cut off; one line; at most MAX_REASON_LENGTH characters", () => {
    const reason = redact("bad key\n-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\nthen -----BEGIN CERTIFICATE-----\nMIIB");
    assert.equal(reason, "bad key [PEM removed] then [PEM removed]");
    assert.equal(redact("x".repeat(5000)).length, MAX_REASON_LENGTH);
  });
});
