// The rendered routes as a real HAProxy runs them: the path map, the host map
// (Host with a port and in upper case), the default "/" key, and WebSocket
// upgrades before the maps. The slots are filled over the admin socket, as the
// handler will.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { request } from "node:http";
import { join } from "node:path";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import { admin, startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { startNode, type TestNode } from "../../harness/backends.js";
import { freePorts } from "../../harness/ports.js";

/** The node that answered, or the status code when no node did. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: "127.0.0.1", port, path, headers: { connection: "close", ...headers } }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(response.statusCode === 200 ? (JSON.parse(body) as { node: string }).node : String(response.statusCode)));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** A backend's total sessions (`stot`) from `show stat`. */
async function sessions(adminPort: number, backend: string): Promise<number> {
  const stat = await admin(adminPort, "show stat");
  const header = (stat.split("\n")[0] ?? "").replace(/^# /, "").split(",");
  const row = stat.split("\n").find((line) => line.startsWith(`${backend},BACKEND,`));
  assert.ok(row, `no ${backend} in show stat`);
  return Number(row.split(",")[header.indexOf("stot")]);
}

describe("portmap routes in a real HAProxy", () => {
  const services = ["web", "api", "admin", "chat"];
  const nodes = new Map<string, TestNode>();
  let haproxy: HaproxyInstance;
  let listenPort = 0;
  let adminPort = 0;

  before(async () => {
    [listenPort = 0, adminPort = 0] = await freePorts(2);
    for (const service of services) nodes.set(service, await startNode(service));
    const spec = parsePortmapKv(new Map([["portmap", `http://${listenPort}:web http://${listenPort}:api{path:/api/} http://${listenPort}:admin{host:admin.example.com} http://${listenPort}:chat{path:/chat/,upgrade:websocket}`]]));
    const mapDirectory = join(mkdtempSync(join(tmpdir(), "chh-portmap-routes-")), "maps");
    mkdirSync(mapDirectory);
    const rendered = renderLoadBalancer(spec, { bindAddress: "127.0.0.1", certDirectory: "/nonexistent", mapDirectory, dynamicCookieKey: "k" });
    for (const [file, content] of rendered.maps) writeFileSync(join(mapDirectory, file), content);
    const preamble = ["global", `    stats socket ipv4@127.0.0.1:${adminPort} level admin`, "defaults", "    mode http", "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s", ""].join("\n");
    haproxy = await startHaproxy({ config: `${preamble}\n${rendered.config}`, adminPort });
    for (const [service, node] of nodes) {
      const backend = `pm_${listenPort}_${service}`;
      await admin(adminPort, `set server ${backend}/pm1 addr ${node.address} port ${node.port}`);
      await admin(adminPort, `set server ${backend}/pm1 state ready`);
    }
    // The first check after leaving maintenance: wait until every entry answers.
    for (let attempt = 0; attempt < 100 && (await get(listenPort, "/")) !== "web"; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  });

  after(async () => {
    await haproxy?.stop();
    for (const node of nodes.values()) await node.stop();
  });

  test("the default, a path prefix, a host with a port in any case, the longest key first", async () => {
    assert.equal(await get(listenPort, "/"), "web");
    assert.equal(await get(listenPort, "/other"), "web");
    assert.equal(await get(listenPort, "/api/users"), "api");
    assert.equal(await get(listenPort, "/apix"), "web");
    assert.equal(await get(listenPort, "/", { host: `Admin.Example.COM:${listenPort}` }), "admin");
    // A host route takes every path of its host, /api/ too: the host map is read first.
    assert.equal(await get(listenPort, "/api/users", { host: "admin.example.com" }), "admin");
    assert.equal(await get(listenPort, "/chat/room", { host: "other.example.com" }), "chat");
  });

  test("a WebSocket upgrade goes to the upgrade entry whatever its path", async () => {
    const backend = `pm_${listenPort}_chat`;
    const before = await sessions(adminPort, backend);
    const apiBefore = await sessions(adminPort, `pm_${listenPort}_api`);
    await get(listenPort, "/api/users", { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" }).catch(() => "closed");
    assert.equal(await sessions(adminPort, backend), before + 1);
    assert.equal(await sessions(adminPort, `pm_${listenPort}_api`), apiBefore);
  });
});
