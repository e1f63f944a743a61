// README claims about `watch`: Consul's `checks` and `services` watch types
// run it (a real `consul watch` starting the real CLI), and for a `service`
// watch it waits until Consul's answer is at least as new as the event's
// CONSUL_INDEX, re-reading (5 reads at most) rather than applying an older view.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cliCommand } from "../../harness/cli.js";
import { startFaultProxy } from "../../harness/fault-proxy.js";
import { patchConfig } from "../faults/fault-stack.js";
import { eventually, startStack, ttlRegistration, type Stack } from "../handler/stack.js";
import { held, node, onCleanup } from "./claims-lib.js";

/** A real `consul watch` of this type that runs `consul-haproxy-handler watch` on every change. */
function consulWatch(stack: Stack, type: string): () => string {
  const child = spawn("consul", ["watch", `-http-addr=127.0.0.1:${stack.consul.httpPort}`, `-type=${type}`, ...cliCommand(), "--config", stack.configFile, "watch"], {
    env: { ...process.env, CONSUL_HTTP_TOKEN: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  onCleanup(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  });
  return () => output;
}

describe("watch", () => {
  for (const type of ["checks", "services"]) {
    test(`a real consul watch of type ${type} runs the handler, which fills the slot`, async () => {
      const stack = await startStack();
      const output = consulWatch(stack, type);
      const a = await node("a");
      // A tag of its own, so the `services` view (names and tags) changes too.
      await stack.consul.register(ttlRegistration("a", a.port, { Tags: [`claims-${type}`] }));
      await eventually(() => held(stack), (rows) => rows.length === 1 && rows[0] === `main_back/srv1 127.0.0.1:${a.port} UP`, `a UP through the ${type} watch`, 30_000);
      assert.doesNotMatch(output(), /payload/, "the payload was accepted");
    });
  }

  test("service watch: an answer older than CONSUL_INDEX is re-read 5 times, then refused; as new: applied; checks: not compared", async () => {
    const stack = await startStack();
    const proxy = await startFaultProxy(stack.consul.address);
    onCleanup(() => proxy.close());
    patchConfig(stack, (config) => {
      config["consul"] = { address: proxy.address, timeoutMs: 2000 };
    });
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    const answer = await stack.consul.api("GET", "/v1/health/service/iri");
    const index = Number(answer.headers.get("x-consul-index"));
    const payload = JSON.stringify(answer.json);

    const readsBefore = proxy.served("pass");
    const ahead = await stack.cli(["watch"], { stdin: payload, env: { CONSUL_INDEX: String(index + 1000) } });
    assert.equal(ahead.code, 1, ahead.stderr);
    assert.match(ahead.stderr, /older than the watch event \(index \d+\) after 5 reads/);
    assert.equal(proxy.served("pass") - readsBefore, 5, "five reads of iri");
    assert.deepEqual(await held(stack), [], "the older view was not applied");

    // The same event with a `checks` payload: its index counts other changes, so it is not compared.
    const checks = await stack.consul.api("GET", "/v1/health/state/any");
    const checksRun = await stack.cli(["watch"], { stdin: JSON.stringify(checks.json), env: { CONSUL_INDEX: String(index + 1000) } });
    assert.equal(checksRun.code, 0, checksRun.stderr);
    await eventually(() => held(stack), (rows) => rows.length === 1 && rows[0] === `main_back/srv1 127.0.0.1:${a.port} UP`, "a UP");

    // An event as new as Consul's answer is applied at the first read.
    const b = await node("b");
    await stack.consul.register(ttlRegistration("b", b.port));
    const newer = await stack.consul.api("GET", "/v1/health/service/iri");
    const readsThen = proxy.served("pass");
    const current = await stack.cli(["watch"], { stdin: JSON.stringify(newer.json), env: { CONSUL_INDEX: newer.headers.get("x-consul-index") ?? "" } });
    assert.equal(current.code, 0, current.stderr);
    assert.equal(proxy.served("pass") - readsThen, 1, "one read");
    await eventually(() => held(stack), (rows) => rows.length === 2 && rows[1] === `main_back/srv2 127.0.0.1:${b.port} UP`, "b UP");
  });
});
