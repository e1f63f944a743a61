// README "Fail static" claims with no test before: Consul without a leader
// (a real server that never elected one), `consul.aclCanaryService: ""`
// turning the empty-answer check off, and `run` with several services of
// which one is not trusted: nothing is applied, not even the other
// services' changes, until every answer is trusted again.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startConsul } from "../../harness/consul.js";
import { startFaultProxy } from "../../harness/fault-proxy.js";
import { patchConfig, startRun } from "../faults/fault-stack.js";
import { eventually, hasLog, startStack, ttlRegistration, type Stack } from "../handler/stack.js";
import { held as heldIn, node, onCleanup, syncOk } from "./claims-lib.js";

/** Both backends: the second service of the last test uses pow_back. */
const held = (stack: Stack): Promise<string[]> => heldIn(stack, ["main_back", "pow_back"]);

describe("fail static: leader, ACL canary, several services", () => {
  test("Consul without a leader, with the default consul.timeoutMs: sync exits 1 with reason no-leader and HAProxy stays as it is", async () => {
    const stack = await startStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    await syncOk(stack);
    const before = await eventually(() => held(stack), (rows) => rows.length === 1 && rows[0]!.endsWith(" UP"), "a UP");

    const leaderless = await startConsul({ leaderless: true });
    onCleanup(() => leaderless.cleanup());
    patchConfig(stack, (config) => {
      // Consul holds a read up to its rpc_hold_timeout (7 s) waiting for a
      // leader before it answers; a shorter timeoutMs logs a timeout instead.
      // No timeoutMs here: the default must outlast that hold (issue 19).
      config["consul"] = { address: leaderless.address };
    });
    const result = await stack.sync();
    assert.equal(result.code, 1, result.stderr);
    assert.ok(hasLog(result.stderr, { message: /not trusted/, reason: "no-leader" }), `the missing leader is the reason: ${result.stderr}`);
    assert.deepEqual(await held(stack), before, "HAProxy untouched (that Consul knows no node, and is not believed)");
  });

  test('aclCanaryService: an empty answer the token may not be allowed to see is refused; with "" it is believed', async () => {
    const stack = await startStack({ acl: true });
    // Reads iri and the nodes, but not Consul's own `consul` service (the canary).
    const token = await stack.consul.createToken('service "iri" { policy = "read" }\nnode_prefix "" { policy = "read" }');
    patchConfig(stack, (config) => {
      config["consul"] = { ...(config["consul"] as Record<string, unknown>), token };
    });
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    await syncOk(stack);
    const before = await eventually(() => held(stack), (rows) => rows.length === 1 && rows[0]!.endsWith(" UP"), "a UP");

    await stack.consul.deregister("a");
    const refused = await stack.sync();
    assert.equal(refused.code, 1, refused.stderr);
    assert.ok(hasLog(refused.stderr, { message: /not trusted|Consul returned no instances/ }) && /acl-filtered|ACL-filtered/.test(refused.stderr), refused.stderr);
    assert.deepEqual(await held(stack), before, "the empty answer was not believed: a still in its slot, UP");

    patchConfig(stack, (config) => {
      config["consul"] = { ...(config["consul"] as Record<string, unknown>), aclCanaryService: "" };
    });
    await syncOk(stack);
    assert.deepEqual(await held(stack), [`main_back/srv1 127.0.0.1:${a.port} DRAIN`], "believed: a is drained");
  });

  test("run with two services: while one answer is untrusted, the other service's change waits too; then it is applied", async () => {
    const stack = await startStack({
      slots: 4,
      handler: (base) => ({
        ...base,
        services: [
          { name: "iri", backend: "main_back", slotPrefix: "srv" },
          { name: "other", backend: "pow_back", slotPrefix: "srv" },
        ],
      }),
    });
    const proxy = await startFaultProxy(stack.consul.address);
    onCleanup(() => proxy.close());
    patchConfig(stack, (config) => {
      config["consul"] = { address: proxy.address, timeoutMs: 1000, blockingWaitSeconds: 2 };
      config["run"] = { listen: "127.0.0.1:0", resyncSeconds: 3600 };
    });
    const a = await node("a");
    const o = await node("o");
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.register({ ...ttlRegistration("o", o.port), Name: "other" });
    const { cli, listen } = await startRun(stack);
    const before = await eventually(() => held(stack), (rows) => rows.length === 2 && rows.every((row) => row.endsWith(" UP")), "a and o UP through run", 30_000);

    proxy.onlyService = "other";
    proxy.mode = "500";
    await eventually(() => Promise.resolve(cli.logs()), (logs) => hasLog(logs, { message: /not trusted/, service: "other", reason: "http-error" }), "other's answer untrusted");
    // iri is read fine and changes: a new node.
    const b = await node("b");
    await stack.consul.register(ttlRegistration("b", b.port));
    const served = proxy.served("500");
    await eventually(() => Promise.resolve(proxy.served("500")), (count) => count >= served + 3, "three more faulty answers for other", 30_000);
    assert.deepEqual(await held(stack), before, "iri's new node is not applied while other is untrusted");
    const health = await fetch(`http://${listen}/healthz`);
    assert.equal(health.status, 503);
    assert.match(await health.text(), /Consul not trusted/);

    proxy.mode = "pass";
    await eventually(
      () => held(stack),
      (rows) => rows.some((row) => row.startsWith("main_back/") && row.includes(`127.0.0.1:${b.port} `) && row.endsWith(" UP")),
      "iri's change applied once other is trusted again",
      30_000,
    );
    assert.equal(await cli.stop(), 0);
  });
});
