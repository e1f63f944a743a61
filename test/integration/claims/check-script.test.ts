// docs/operators.md: examples/check-iri-node exits 0 when the node is in
// sync, 1 (warning) when it lags more than --max-lag milestones, 2
// (critical) when it does not answer. Run against a real HTTP server here.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { repositoryRoot } from "../../harness/cli.js";
import { freePort } from "../../harness/ports.js";

type Answer = (request: IncomingMessage, response: ServerResponse) => void;
let answer: Answer = (_request, response) => response.end();
const seenBodies: string[] = [];
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk: Buffer) => (body += chunk.toString()));
  request.on("end", () => {
    seenBodies.push(`${request.method} ${request.headers["x-iota-api-version"] ?? "-"} ${body}`);
    answer(request, response);
  });
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function nodeInfo(latest: number, solid: number): Answer {
  return (_request, response) => {
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ appName: "IRI", appVersion: "1.8.6", latestMilestoneIndex: latest, latestSolidSubtangleMilestoneIndex: solid }));
  };
}

/** Runs the script as Consul would (async: the server answering it lives in this process). */
function check(url: string, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [join(repositoryRoot, "examples/check-iri-node"), url, "--timeout", "5", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

describe("examples/check-iri-node exit codes", async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  test("0 when in sync (and it asks getNodeInfo with the API version header)", async () => {
    answer = nodeInfo(1000, 999);
    assert.deepEqual((await check(url)).code, 0);
    assert.equal(seenBodies.at(-1), 'POST 1 {"command": "getNodeInfo"}');
  });

  test("1 (warning) when it lags more than --max-lag milestones; 0 at exactly --max-lag", async () => {
    answer = nodeInfo(1000, 990);
    const lagging = await check(url);
    assert.equal(lagging.code, 1, lagging.stdout);
    assert.match(lagging.stdout, /^WARNING: .*10 milestones behind/);
    answer = nodeInfo(1000, 995);
    assert.equal((await check(url, "--max-lag", "5")).code, 0);
    assert.equal((await check(url, "--max-lag", "4")).code, 1);
  });

  test("2 (critical) on an HTTP error, an answer that is not node info, or no answer", async () => {
    answer = (_request, response) => {
      response.statusCode = 500;
      response.end("boom");
    };
    assert.equal((await check(url)).code, 2);
    answer = (_request, response) => response.end('{"error":"nope"}');
    const notInfo = await check(url);
    assert.equal(notInfo.code, 2);
    assert.match(notInfo.stdout, /^CRITICAL: .*did not answer node info/);
    const closed = await check(`http://127.0.0.1:${await freePort()}/`);
    assert.equal(closed.code, 2);
    assert.match(closed.stdout, /^CRITICAL: .*unreachable/);
  });
});
