// consulGet against small real HTTP servers on loopback: every broken answer
// is an error with its cause, at once, never a hang.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, Agent, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { consulGet, ConsulHttpError } from "../../../handler/source/consul-http.js";
import { readDeadlineMs } from "../../../handler/source/consul-source.js";

const servers: Server[] = [];
const agent = new Agent({ keepAlive: true });
after(async () => {
  agent.destroy();
  for (const server of servers) {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/health/service/iri`);
}

function failure(error: unknown): string {
  assert.ok(error instanceof ConsulHttpError, String(error));
  return error.failure;
}

describe("consulGet", () => {
  test("a body cut short (Content-Length larger than what arrives, then close) is 'truncated' at once", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      response.write('[{"Node":');
      setTimeout(() => response.socket?.destroy(), 20);
    });
    const started = Date.now();
    await assert.rejects(consulGet(url, { agent, headers: {}, deadlineMs: 60_000 }), (error) => {
      assert.equal(failure(error), "truncated");
      assert.match((error as Error).message, /9 of 1000 declared bytes arrived/);
      return true;
    });
    assert.ok(Date.now() - started < 30_000, "not a wait for the deadline");
  });

  test("a body that is not JSON is 'bad-answer'", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end("[{<html>");
    });
    await assert.rejects(consulGet(url, { agent, headers: {}, deadlineMs: 5_000 }), (error) => failure(error) === "bad-answer");
  });

  test("no answer is 'timeout' at the deadline", async () => {
    const url = await serve(() => undefined);
    await assert.rejects(consulGet(url, { agent, headers: {}, deadlineMs: 300 }), (error) => failure(error) === "timeout");
  });

  test("a refused connection is 'unreachable'; an HTTP error is an answer with its status", async () => {
    const closed = await serve(() => undefined);
    const port = closed.port;
    await new Promise((resolve) => servers.pop()?.close(resolve));
    await assert.rejects(consulGet(new URL(`http://127.0.0.1:${port}/`), { agent, headers: {}, deadlineMs: 2_000 }), (error) => failure(error) === "unreachable");
    const url = await serve((_request, response) => {
      response.writeHead(500, { "content-type": "text/plain" });
      response.end("rpc error");
    });
    const answer = await consulGet(url, { agent, headers: {}, deadlineMs: 2_000 });
    assert.equal(answer.statusCode, 500);
    assert.equal(answer.body, "rpc error");
  });

  test("a good answer is parsed, with its headers", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { "content-type": "application/json", "x-consul-index": "42" });
      response.end("[]");
    });
    const answer = await consulGet(url, { agent, headers: {}, deadlineMs: 2_000 });
    assert.deepEqual(answer.body, []);
    assert.equal(answer.headers["x-consul-index"], "42");
  });

  test("the deadline of a blocking read: wait + wait/16 + timeoutMs", () => {
    assert.equal(readDeadlineMs(5_000, undefined), 5_000);
    assert.equal(readDeadlineMs(5_000, 60), 60_000 + 3_750 + 5_000);
    assert.equal(readDeadlineMs(1_000, 2), 2_000 + 125 + 1_000);
  });
});
