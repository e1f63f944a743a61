// The parser's promise to HAProxy, checked by HAProxy itself: no KV input the
// parser accepts renders a configuration that `haproxy -c` rejects. fast-check
// generates the inputs (test/unit/portmap/portmap-arbitraries.ts); every accepted
// one is rendered with its maps and a real certificate directory and checked.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { renderLoadBalancer, type RenderOptions } from "../../../handler/portmap/render.js";
import type { LoadBalancerSpec } from "../../../handler/portmap/spec.js";
import { haproxyProgram } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { parseOrRefuse, portmapKv, sharedListenerKv } from "../../unit/portmap/portmap-arbitraries.js";

const RUNS = 150;
/** Of the runs, how many share one listener among several HTTP entries. */
const SHARED_RUNS = 50;
/**
 * What the playbook's haproxy.cfg has besides the portmap's sections, reduced to
 * what -c needs: with an empty portmap, its stats listener is what listens.
 */
function preamble(statsPort: number): string {
  return ["global", "    log stdout format raw local0", "", "defaults", "    mode http", "    timeout connect 5s", "    timeout client 30s", "    timeout server 30s", "", "listen stats", `    bind 127.0.0.1:${statsPort}`, "    stats enable", ""].join("\n");
}

let directory = "";
let options: RenderOptions;
let statsPort = 0;

/** `haproxy -c` on the spec rendered into its own directory: the exit code and what HAProxy said. */
function check(spec: LoadBalancerSpec, name: string, extra = ""): Promise<{ code: number; output: string; config: string }> {
  const caseDirectory = join(directory, name);
  const mapDirectory = join(caseDirectory, "maps");
  mkdirSync(mapDirectory, { recursive: true });
  const rendered = renderLoadBalancer(spec, { ...options, mapDirectory });
  for (const [file, content] of rendered.maps) writeFileSync(join(mapDirectory, file), content);
  const config = `${preamble(statsPort)}\n${rendered.config}${extra}`;
  const configFile = join(caseDirectory, "haproxy.cfg");
  writeFileSync(configFile, config);
  return new Promise((resolve) => {
    execFile(haproxyProgram, ["-c", "-f", configFile], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}`, config });
    });
  });
}

describe("portmap: haproxy -c accepts every configuration the parser lets through", () => {
  before(async () => {
    statsPort = await freePort();
    directory = mkdtempSync(join(tmpdir(), "chh-portmap-"));
    const certDirectory = join(directory, "certs");
    mkdirSync(certDirectory);
    const key = join(directory, "key.pem");
    const certificate = join(directory, "certificate.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=lb.test"], { stdio: "ignore" });
    execFileSync("sh", ["-c", `cat "${certificate}" "${key}" > "${join(certDirectory, "lb.test.pem")}"`]);
    options = { bindAddress: "127.0.0.1", certDirectory, mapDirectory: "", dynamicCookieKey: "test-key" };
  });
  after(() => rmSync(directory, { recursive: true, force: true }));

  test("the check itself fails on a configuration HAProxy rejects", async () => {
    const spec = parseOrRefuse(new Map([["portmap", "http://8080:web"]]));
    assert.ok(spec);
    const good = await check(spec, "good");
    assert.equal(good.code, 0, good.output);
    const bad = await check(spec, "bad", "\nbackend broken\n    no-such-directive 1\n");
    assert.notEqual(bad.code, 0, bad.output);
    assert.match(bad.output, /no-such-directive/);
  });

  test(`${RUNS} generated portmaps, ${SHARED_RUNS} of them sharing one listener`, async () => {
    let accepted = 0;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: RUNS - SHARED_RUNS, arbitrary: portmapKv }, { weight: SHARED_RUNS, arbitrary: sharedListenerKv }), async (kv) => {
        const spec = parseOrRefuse(kv);
        if (spec === undefined) return;
        accepted += 1;
        run += 1;
        const result = await check(spec, `case-${run}`);
        assert.equal(result.code, 0, `haproxy -c rejected what ${JSON.stringify([...kv])} rendered:\n${result.output}\n${result.config}`);
      }),
      { numRuns: RUNS },
    );
    assert.ok(accepted >= RUNS / 10, `only ${accepted} of ${RUNS} inputs were accepted`);
  });
});
