// ACME HTTP-01 through a real HAProxy: with certificate names in the portmap,
// every plain http listener sends /.well-known/acme-challenge/ to the
// handler's listener (run.listen), which answers pending challenges from its
// store; any other path still goes to the entries' nodes, and a listener that
// ends TLS has no such route (HTTP-01 is plain http).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import { MemoryChallengeStore } from "../../../handler/certificates/challenge.js";
import { startHttpListener, type HttpListener } from "../../../handler/triggers/http-listener.js";
import { admin, startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { startNode, type TestNode } from "../../harness/backends.js";
import { freePorts } from "../../harness/ports.js";
import { httpGet, type HttpAnswer } from "../../harness/http-get.js";

const get = (port: number, path: string, host = "a.test"): Promise<HttpAnswer> => httpGet(port, path, { host });

describe("ACME challenges through the rendered portmap", () => {
  const store = new MemoryChallengeStore();
  let haproxy: HaproxyInstance;
  let listener: HttpListener;
  let node: TestNode;
  let httpPort = 0;
  let apiPort = 0;

  before(async () => {
    let adminPort = 0;
    let handlerPort = 0;
    [httpPort = 0, apiPort = 0, adminPort = 0, handlerPort = 0] = await freePorts(4);
    node = await startNode("web");
    listener = await startHttpListener(`127.0.0.1:${handlerPort}`, { metrics: () => "", health: () => ({ healthy: true, reason: "ok" }), trigger: () => undefined, challenges: store });
    const spec = parsePortmapKv(new Map([["portmap", `http://${httpPort}:web http://${apiPort}:web`], ["certificate_name", "a.test,b.test"]]));
    const mapDirectory = join(mkdtempSync(join(tmpdir(), "chh-acme-route-")), "maps");
    mkdirSync(mapDirectory);
    const rendered = renderLoadBalancer(spec, { bindAddress: "127.0.0.1", certDirectory: "/nonexistent", mapDirectory, dynamicCookieKey: "k", acmeChallengeServer: listener.address });
    for (const [file, content] of rendered.maps) writeFileSync(join(mapDirectory, file), content);
    const preamble = ["global", `    stats socket ipv4@127.0.0.1:${adminPort} level admin`, "defaults", "    mode http", "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s", ""].join("\n");
    haproxy = await startHaproxy({ config: `${preamble}\n${rendered.config}`, adminPort });
    for (const port of [httpPort, apiPort]) {
      await admin(adminPort, `set server pm_${port}_web/pm1 addr ${node.address} port ${node.port}`);
      await admin(adminPort, `set server pm_${port}_web/pm1 state ready`);
    }
    for (let attempt = 0; attempt < 100 && (await get(httpPort, "/")).status !== 200; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  });

  after(async () => {
    await haproxy?.stop();
    await listener?.close();
    await node?.stop();
  });

  test("a pending challenge is answered on every http listener, whatever the Host; other paths reach the node", async () => {
    await store.put("tok_en-1", "tok_en-1.thumbprint");
    for (const port of [httpPort, apiPort]) {
      for (const host of ["a.test", "b.test", "B.TEST:80"]) {
        assert.deepEqual(await get(port, "/.well-known/acme-challenge/tok_en-1", host), { status: 200, body: "tok_en-1.thumbprint" }, `port ${port}, Host ${host}`);
      }
    }
    const page = await get(httpPort, "/index.html");
    assert.equal(page.status, 200);
    assert.match(page.body, /"node":"web"/, "the node answers the rest");
  });

  test("no pending challenge, a second segment or an encoded character: 404 from the handler, not the node", async () => {
    await store.put("known", "known.thumbprint");
    for (const path of ["/.well-known/acme-challenge/unknown", "/.well-known/acme-challenge/known/x", "/.well-known/acme-challenge/kn%6Fwn", "/.well-known/acme-challenge/"]) {
      const answer = await get(httpPort, path);
      assert.equal(answer.status, 404, path);
      assert.doesNotMatch(answer.body, /"node"/, `${path} did not reach the node`);
    }
    await store.remove("known");
    assert.equal((await get(httpPort, "/.well-known/acme-challenge/known")).status, 404, "removed after the order");
  });
});
