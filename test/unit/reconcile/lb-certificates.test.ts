// The certificates `run` serves, before any rendering, on disk (no HAProxy:
// the rendered file has no TLS bind yet, so nothing is swapped): the
// placeholder goes into certDirectory, and a certificate provisioned there by
// hand under the same name is not replaced by one.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoadBalancerCertificates } from "../../../handler/reconcile/lb-certificates.js";
import { MemoryChallengeStore } from "../../../handler/certificates/challenge.js";
import { certificateFacts } from "../../../handler/certificates/pem.js";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { createLogger } from "../../../handler/log.js";
import type { HandlerConfig } from "../../../handler/config/config.js";
import type { SessionOpener } from "../../../handler/lb/certificate-swap.js";
import { makeTinyCa } from "../../harness/tiny-ca.js";

const noHaproxy: SessionOpener = { session: () => Promise.reject(new Error("HAProxy is not asked before a rendering names the directory")) };

function certificatesIn(root: string): LoadBalancerCertificates {
  const lb = { certDirectory: join(root, "certs"), certificateStateDirectory: join(root, "state"), configFile: join(root, "portmap.cfg") };
  const config = { lb } as unknown as HandlerConfig;
  return new LoadBalancerCertificates(() => ({ config, logger: createLogger("error"), haproxy: noHaproxy, challenges: new MemoryChallengeStore() }));
}

const spec = parsePortmapKv(new Map([["portmap", "https-http://443:web"], ["certificate_name", "a.test,b.test"]]));

describe("LoadBalancerCertificates.prepare", () => {
  test("the placeholder for the names goes into certDirectory (0600) before the first rendering", async () => {
    const root = mkdtempSync(join(tmpdir(), "cht-lbcert-"));
    await certificatesIn(root).prepare(spec);
    const file = join(root, "certs", "a.test.pem");
    const facts = certificateFacts(readFileSync(file, "utf8"));
    assert.equal(facts.selfSigned, true);
    assert.deepEqual([...facts.names].sort(), ["a.test", "b.test"]);
    assert.equal((statSync(file).mode & 0o777).toString(8), "600");
  });

  test("a CA's certificate provisioned by hand under that name stays: the placeholder is not put over it", async () => {
    const root = mkdtempSync(join(tmpdir(), "cht-lbcert-"));
    const leaf = makeTinyCa("Hand CA").issue(["a.test", "b.test"]);
    mkdirSync(join(root, "certs"));
    const byHand = `${leaf.certPem}${leaf.keyPem}`;
    writeFileSync(join(root, "certs", "a.test.pem"), byHand);
    await certificatesIn(root).prepare(spec);
    assert.equal(readFileSync(join(root, "certs", "a.test.pem"), "utf8"), byHand);
  });

  test("no certificate_name: nothing written", async () => {
    const root = mkdtempSync(join(tmpdir(), "cht-lbcert-"));
    await certificatesIn(root).prepare(parsePortmapKv(new Map([["portmap", "http://80:web"]])));
    assert.throws(() => statSync(join(root, "certs")), /ENOENT/);
  });
});
