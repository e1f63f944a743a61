// The `run` listener's limits, against the real listener on loopback: bodies
// capped at 1 MiB (413), header and request timeouts, a connection cap.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { LISTENER_LIMITS, startHttpListener, type HttpListener } from "../../../handler/triggers/http-listener.js";
import { eventually } from "../../harness/eventually.js";

let triggers = 0;
const listeners: HttpListener[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(listeners.map((listener) => listener.close()));
});

async function listen(): Promise<{ host: string; port: number }> {
  const listener = await startHttpListener("127.0.0.1:0", {
    metrics: () => "",
    health: () => ({ healthy: true, reason: "ok" }),
    trigger: () => {
      triggers += 1;
    },
  });
  listeners.push(listener);
  const port = Number(listener.address.slice(listener.address.lastIndexOf(":") + 1));
  return { host: "127.0.0.1", port };
}

/** A raw TCP connection that records whether (and what) the server answered and when it closed. */
function rawConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    sockets.push(socket);
    let text = "";
    let isClosed = false;
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.on("close", () => (isClosed = true));
    socket.on("error", () => (isClosed = true));
    socket.once("connect", () => resolve({ socket, received: () => text, closed: () => isClosed }));
    socket.once("error", reject);
  });
}

describe("run listener limits", () => {
  test("a body over 1 MiB is refused with 413, declared or streamed; a small one triggers", async () => {
    const { port } = await listen();
    const small = await fetch(`http://127.0.0.1:${port}/watch`, { method: "POST", body: "[]" });
    assert.equal(small.status, 202);
    const before = triggers;

    const declared = await fetch(`http://127.0.0.1:${port}/watch`, { method: "POST", body: Buffer.alloc(LISTENER_LIMITS.maxBodyBytes + 1, 120) });
    assert.equal(declared.status, 413);
    assert.match(await declared.text(), /payload too large: at most 1048576 bytes/);

    // Streamed without a Content-Length (chunked): cut off once over the limit.
    const connection = await rawConnection(port);
    connection.socket.write(`POST /watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 120);
    for (let index = 0; index < 5 && !connection.closed(); index += 1) {
      connection.socket.write(`${chunk.length.toString(16)}\r\n`);
      connection.socket.write(chunk);
      connection.socket.write("\r\n");
    }
    await eventually(() => Promise.resolve(connection.received()), (text) => text.startsWith("HTTP/1.1 413"), "413 for a streamed body over the limit");
    // The body is only a trigger: a big watch payload still triggers the reconcile (once per request).
    assert.equal(triggers, before + 2, "each refused request triggered one reconcile");
  });

  test("headers that never finish, and a connection that sends nothing, are closed", async () => {
    const { port } = await listen();
    const slow = await rawConnection(port);
    slow.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    const silent = await rawConnection(port);
    // Node's defaults would keep them for 60 s (headers) and 300 s (request).
    const deadline = LISTENER_LIMITS.requestTimeoutMs + 5_000;
    await eventually(() => Promise.resolve(slow.closed()), (closed) => closed, "the slow-headers connection closed", deadline);
    await eventually(() => Promise.resolve(silent.closed()), (closed) => closed, "the silent connection closed", deadline);
    assert.doesNotMatch(slow.received(), /^HTTP\/1\.1 200/);
  });

  test("connections beyond the cap are refused; the listener serves again once they go", async () => {
    const { port } = await listen();
    const held = [];
    for (let index = 0; index < LISTENER_LIMITS.maxConnections; index += 1) held.push(await rawConnection(port));
    // Wait until the server has accepted them all (each is counted on accept).
    const extra = await rawConnection(port);
    await eventually(() => Promise.resolve(extra.closed()), (closed) => closed, "the connection over the cap closed at once");
    assert.equal(extra.received(), "");
    for (const connection of held) connection.socket.destroy();
    await eventually(
      () => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.status),
      (status) => status === 200,
      "the listener serves again",
    );
  });
});
