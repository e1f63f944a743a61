// What each portmap type and option does to traffic, seen from clients of a
// real HAProxy running the rendered configuration (slots filled over the
// admin socket, as the handler fills them): https verifies the node's
// certificate against lb.caFile and https+insecure does not, tcp-proxy-v2
// sends a PROXY v2 header naming the client, http adds X-Forwarded-For,
// balance:roundrobin alternates and balance:first does not, balance:source
// keeps a client address on one node, balance:leastconn sends requests past a
// slow busy node, sticky:cookie (over 100 requests, and across a restart that
// swaps the nodes' slots) and sticky:source keep a client on one node.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request, type Server as HttpServer } from "node:http";
import { request as tlsRequest } from "node:https";
import { connect, createServer as createTcpServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import { admin, startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { makeSelfSigned, makeTestCa, startNode, type TestNode } from "../../harness/backends.js";
import { freePorts } from "../../harness/ports.js";

interface Answer {
  status: number;
  body: string;
  cookie: string | undefined;
}

function get(port: number, headers: Record<string, string> = {}, localAddress = "127.0.0.1", tls = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, path: "/", localAddress, headers: { connection: "close", ...headers }, rejectUnauthorized: false };
    const outgoing = (tls ? tlsRequest : request)(options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body, cookie: response.headers["set-cookie"]?.[0]?.split(";")[0] }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

const nodeOf = (answer: Answer): string => (answer.status === 200 ? (JSON.parse(answer.body) as { node: string }).node : `HTTP ${answer.status}`);

/** A node that answers with the X-Forwarded-For header it got. */
async function startHeaderEcho(): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer((incoming, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ node: "echo", forwardedFor: incoming.headers["x-forwarded-for"] ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A node that answers after `delayMs` (its /health at once). */
async function startSlowNode(name: string, delayMs: number): Promise<{ server: HttpServer; port: number }> {
  const server = createHttpServer((incoming, response) => {
    const answer = () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ node: name }));
    };
    if (incoming.url === "/health") answer();
    else setTimeout(answer, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/**
 * A TCP node that reads a PROXY protocol v2 header (PROXY command, TCP over
 * IPv4) and answers with the addresses in it, or "no PROXY v2 header".
 * Health checks connect and close without data: nothing to answer.
 */
async function startProxyV2Node(): Promise<{ server: Server; port: number }> {
  const server = createTcpServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 16) return;
      if (!received.subarray(0, 12).equals(PROXY_V2_SIGNATURE)) return void socket.end("no PROXY v2 header\n");
      const length = received.readUInt16BE(14);
      if (received.length < 16 + length) return;
      const [command, family] = [received[12], received[13]];
      if (command !== 0x21 || family !== 0x11) return void socket.end(`PROXY v2 command ${command} family ${family}\n`);
      const address = (offset: number) => [...received.subarray(offset, offset + 4)].join(".");
      socket.end(`proxy-v2 ${address(16)}:${received.readUInt16BE(24)} -> ${address(20)}:${received.readUInt16BE(26)}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function tcpExchange(port: number): Promise<{ answer: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    let localPort = 0;
    const socket = connect({ host: "127.0.0.1", port }, () => {
      localPort = socket.localPort ?? 0;
      socket.write("hello\n");
    });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("close", () => resolve({ answer: answer.trim(), localPort }));
    socket.on("error", reject);
  });
}

describe("portmap types and options, seen from clients of a real HAProxy", () => {
  const nodes: TestNode[] = [];
  const servers: (Server | HttpServer)[] = [];
  let haproxy: HaproxyInstance;
  let adminPort = 0;
  const port: Record<string, number> = {};
  let pair: TestNode[] = [];

  before(async () => {
    const names = ["verified", "untrusted", "insecure", "proxy", "forwarded", "roundrobin", "first", "cookie", "source", "hash", "leastconn"];
    const ports = await freePorts(names.length + 1);
    adminPort = ports[0] ?? 0;
    names.forEach((name, index) => (port[name] = ports[index + 1] ?? 0));
    const ca = makeTestCa();
    const selfSigned = makeSelfSigned();
    const verified = await startNode("verified", { tls: ca });
    const untrusted = await startNode("untrusted", { tls: selfSigned });
    const [a, b] = [await startNode("node-a"), await startNode("node-b")];
    nodes.push(verified, untrusted, a, b);
    pair = [a, b];
    const slow = await startSlowNode("node-slow", 3000);
    servers.push(slow.server);
    const proxy = await startProxyV2Node();
    const echo = await startHeaderEcho();
    servers.push(proxy.server, echo.server);

    // A check's timeout is its interval: 1 s, and 3 failures before DOWN, so a loaded CI machine does not take a node out.
    const checks = "check:/health,inter:1s,rise:1,fall:3,slots:2";
    const portmap = [
      `https://${port["verified"]}:verified{${checks}}`,
      `https://${port["untrusted"]}:untrusted{${checks}}`,
      `https+insecure://${port["insecure"]}:untrusted{${checks}}`,
      `tcp-proxy-v2://${port["proxy"]}:proxy{inter:1s,rise:1,slots:2}`,
      `http://${port["forwarded"]}:echo{slots:2}`,
      `http://${port["roundrobin"]}:pair{balance:roundrobin,${checks}}`,
      `http://${port["first"]}:pair{balance:first,${checks}}`,
      `http://${port["cookie"]}:pair{balance:roundrobin,sticky:cookie,${checks}}`,
      `http://${port["source"]}:pair{balance:roundrobin,sticky:source,${checks}}`,
      `http://${port["hash"]}:pair{balance:source,${checks}}`,
      `http://${port["leastconn"]}:mixed{balance:leastconn,${checks}}`,
    ].join(" ");
    const spec = parsePortmapKv(new Map([["portmap", portmap]]));
    // The listener's own certificate (https ends TLS at the load balancer too), and the route maps.
    const directory = mkdtempSync(join(tmpdir(), "chh-portmap-types-"));
    const [certDirectory, mapDirectory] = [join(directory, "certs"), join(directory, "maps")];
    mkdirSync(certDirectory);
    mkdirSync(mapDirectory);
    const listenerCert = makeSelfSigned();
    writeFileSync(join(certDirectory, "listener.pem"), readFileSync(listenerCert.certFile, "utf8") + readFileSync(listenerCert.keyFile, "utf8"));
    const rendered = renderLoadBalancer(spec, { bindAddress: "127.0.0.1", certDirectory, mapDirectory, caFile: ca.caFile, dynamicCookieKey: "types-test" });
    for (const [file, content] of rendered.maps) writeFileSync(join(mapDirectory, file), content);
    const preamble = ["global", `    stats socket ipv4@127.0.0.1:${adminPort} level admin`, "defaults", "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s", ""].join("\n");
    haproxy = await startHaproxy({ config: `${preamble}\n${rendered.config}`, adminPort });

    const fill = async (backend: string, slot: number, address: string, nodePort: number) => {
      await admin(adminPort, `set server ${backend}/pm${slot} addr ${address} port ${nodePort}`);
      await admin(adminPort, `set server ${backend}/pm${slot} state ready`);
    };
    const backend = (entry: string, service: string) => `pm_${port[entry]}_${service}`;
    await fill(backend("verified", "verified"), 1, verified.address, verified.port);
    await fill(backend("untrusted", "untrusted"), 1, untrusted.address, untrusted.port);
    await fill(backend("insecure", "untrusted"), 1, untrusted.address, untrusted.port);
    await fill(backend("proxy", "proxy"), 1, "127.0.0.1", proxy.port);
    await fill(backend("forwarded", "echo"), 1, "127.0.0.1", echo.port);
    for (const entry of ["roundrobin", "first", "cookie", "source", "hash"]) {
      await fill(backend(entry, "pair"), 1, a.address, a.port);
      await fill(backend(entry, "pair"), 2, b.address, b.port);
    }
    await fill(backend("leastconn", "mixed"), 1, "127.0.0.1", slow.port);
    await fill(backend("leastconn", "mixed"), 2, a.address, a.port);
    // Every check has run once (rise 1): the untrusted https slot is DOWN, every other filled slot UP.
    const untrustedSlot = `${backend("untrusted", "untrusted")}/pm1`;
    const filledStatus = async () => {
      const stat = await admin(adminPort, "show stat");
      const status = (stat.split("\n")[0] ?? "").replace(/^# /, "").split(",").indexOf("status");
      return new Map(stat.split("\n").filter((line) => /^pm_\d+_\w+,pm[12],/.test(line)).map((line) => line.split(",")).filter((row) => row[status] !== "MAINT").map((row) => [`${row[0]}/${row[1]}`, row[status] ?? ""]));
    };
    const settled = (status: Map<string, string>) => status.size === 17 && [...status].every(([slot, value]) => (slot === untrustedSlot ? value.startsWith("DOWN") : value === "UP"));
    for (let attempt = 0; attempt < 300 && !settled(await filledStatus()); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    const status = await filledStatus();
    assert.ok(settled(status), JSON.stringify([...status]));
  });

  after(async () => {
    await haproxy?.stop();
    for (const node of nodes) await node.stop();
    for (const server of servers) server.close();
  });

  test("https verifies the node's certificate against lb.caFile; https+insecure does not", async () => {
    assert.equal(nodeOf(await get(port["verified"] ?? 0, {}, "127.0.0.1", true)), "verified", "a certificate from the CA in caFile is trusted");
    assert.equal(nodeOf(await get(port["untrusted"] ?? 0, {}, "127.0.0.1", true)), "HTTP 503", "a self-signed certificate is refused (the check fails: no server)");
    assert.equal(nodeOf(await get(port["insecure"] ?? 0, {}, "127.0.0.1", true)), "untrusted", "https+insecure reaches the same node without verifying");
  });

  test("tcp-proxy-v2 sends a PROXY v2 header naming the client's address and port and the listener", async () => {
    const { answer, localPort } = await tcpExchange(port["proxy"] ?? 0);
    assert.equal(answer, `proxy-v2 127.0.0.1:${localPort} -> 127.0.0.1:${port["proxy"]}`);
  });

  test("http adds X-Forwarded-For with the client's address", async () => {
    const answer = JSON.parse((await get(port["forwarded"] ?? 0)).body) as { forwardedFor: string | null };
    assert.equal(answer.forwardedFor, "127.0.0.1");
  });

  test("balance:roundrobin alternates between the two nodes", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i += 1) seen.push(nodeOf(await get(port["roundrobin"] ?? 0)));
    assert.deepEqual(new Set(seen), new Set(["node-a", "node-b"]));
    for (let i = 1; i < seen.length; i += 1) assert.notEqual(seen[i], seen[i - 1], `not alternating: ${seen.join(" ")}`);
  });

  test("balance:first sends every request to the first slot while it has room", async () => {
    for (let i = 0; i < 6; i += 1) assert.equal(nodeOf(await get(port["first"] ?? 0)), "node-a");
  });

  test("sticky:cookie: the cookie HAProxy sets keeps a client on its node; without it the entry's balance applies", async () => {
    const first = await get(port["cookie"] ?? 0);
    assert.match(first.cookie ?? "", new RegExp(`^pm_${port["cookie"]}_pair=\\w+$`), "a dynamic cookie named after the backend");
    const pinned = nodeOf(first);
    for (let i = 0; i < 100; i += 1) assert.equal(nodeOf(await get(port["cookie"] ?? 0, { cookie: first.cookie ?? "" })), pinned);
    const unpinned = new Set<string>();
    for (let i = 0; i < 6; i += 1) unpinned.add(nodeOf(await get(port["cookie"] ?? 0)));
    assert.equal(unpinned.size, 2, "without the cookie both nodes serve");
  });

  test("balance:source: one client address, one node, without a table", async () => {
    for (const source of ["127.0.0.1", "127.0.0.3"]) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i += 1) seen.add(nodeOf(await get(port["hash"] ?? 0, {}, source)));
      assert.equal(seen.size, 1, `${source}: ${[...seen].join(" ")}`);
    }
  });

  test("balance:leastconn: while the slow node holds a request, the next ones go to the fast node", async () => {
    // Two at once: leastconn gives each node one, so the slow node is busy for 3 s.
    let slowBusy = true;
    const pair = Promise.all([0, 1].map(() => get(port["leastconn"] ?? 0).then(nodeOf)));
    void pair.then(() => (slowBusy = false));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const during: string[] = [];
    while (slowBusy && during.length < 8) {
      const node = nodeOf(await get(port["leastconn"] ?? 0));
      if (slowBusy) during.push(node);
    }
    assert.deepEqual((await pair).sort(), ["node-a", "node-slow"], "the two first requests, one on each node");
    assert.ok(during.length >= 2, `requests answered while the slow node was busy: ${during.length}`);
    assert.deepEqual(new Set(during), new Set(["node-a"]), `roundrobin would send every other one to the busy slow node: ${during.join(" ")}`);
  });

  test("sticky:source: one client address stays on one node although the balance alternates", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i += 1) seen.add(nodeOf(await get(port["source"] ?? 0)));
    assert.equal(seen.size, 1, `one node for 127.0.0.1: ${[...seen].join(" ")}`);
    // Another client address (127.0.0.2 on loopback): pinned as well, whichever node it got.
    const other = new Set<string>();
    for (let i = 0; i < 4; i += 1) other.add(nodeOf(await get(port["source"] ?? 0, {}, "127.0.0.2")));
    assert.equal(other.size, 1);
  });

  test("sticky:cookie across a restart of HAProxy with the nodes in each other's slots: the cookie follows the node", async () => {
    const first = await get(port["cookie"] ?? 0);
    const pinned = nodeOf(first);
    await haproxy.restart();
    const backend = `pm_${port["cookie"]}_pair`;
    const [a, b] = pair;
    assert.ok(a && b);
    // Swapped: the node that was in pm1 is now in pm2 and the other way round.
    for (const [slot, node] of [[1, b], [2, a]] as const) {
      await admin(adminPort, `set server ${backend}/pm${slot} addr ${node.address} port ${node.port}`);
      await admin(adminPort, `set server ${backend}/pm${slot} state ready`);
    }
    const bothUp = async () => (await admin(adminPort, `show stat ${backend} 4 -1`)).split("\n").filter((line) => /,pm[12],.*,UP,/.test(line)).length === 2;
    for (let attempt = 0; attempt < 100 && !(await bothUp()); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < 20; i += 1) assert.equal(nodeOf(await get(port["cookie"] ?? 0, { cookie: first.cookie ?? "" })), pinned, "the dynamic cookie names the node's address, not its slot");
  });
});
