// The handler against a real Consul and a real HAProxy, continued from
// reconcile.test.ts: running out of slots with grow, TLS and timing classes,
// a class the backend lacks, an HTTP check registered as curl would.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { makeTestCa, makeSelfSigned } from "../../harness/backends.js";
import { eventually, hasLog, registration, startStack, ttlRegistration } from "./stack.js";
import { node, syncOk } from "./test-nodes.js";

describe("reconcile against real Consul and HAProxy: grow and slot classes", () => {
  test("slots running out with grow: add server makes room", async () => {
    const stack = await startStack({ slots: 1, grow: true });
    const started = await Promise.all(["g1", "g2"].map((name) => node(name)));
    await stack.consul.register(ttlRegistration("g1", started[0]!.port));
    await stack.consul.register(ttlRegistration("g2", started[1]!.port));
    await syncOk(stack);
    const grown = await eventually(() => stack.stat("srv2"), (row) => row.status === "UP", "grown slot srv2 UP");
    assert.equal(grown["addr"], `127.0.0.1:${started[1]!.port}`);
  });

  test("https node verified against a CA made here; another with sslverify off", async () => {
    const ca = makeTestCa();
    const stack = await startStack({ caFile: ca.caFile });
    const secure = await node("secure", { tls: ca });
    const unverified = await node("unverified", { tls: makeSelfSigned() });
    await stack.consul.register(ttlRegistration("secure", secure.port, { Meta: { haproxy_scheme: "https" } }));
    await stack.consul.register(ttlRegistration("unverified", unverified.port, { Meta: { haproxy_scheme: "https", haproxy_sslverify: "false" } }));
    await syncOk(stack);
    await eventually(() => stack.stat("tls1"), (row) => row.status === "UP", "tls1 UP (verified)");
    await eventually(() => stack.stat("tlsnv1"), (row) => row.status === "UP", "tlsnv1 UP (not verified)");
    const seen = new Set<string>();
    for (let i = 0; i < 6; i += 1) seen.add((await stack.request()).node ?? "none");
    assert.deepEqual([...seen].sort(), ["secure", "unverified"]);

    // The self-signed node claiming sslverify=true lands in the verifying class and never comes UP.
    await stack.consul.register(ttlRegistration("unverified", unverified.port, { Meta: { haproxy_scheme: "https", haproxy_sslverify: "true" } }));
    await syncOk(stack);
    const moved = await eventually(() => stack.stat("tls2"), (row) => row["addr"] === `127.0.0.1:${unverified.port}` && /DOWN/.test(row.status ?? "") && !/INI/.test(row["check_status"] ?? "INI"), "tls2 DOWN after a failed TLS check");
    assert.match(moved["check_status"] ?? "", /L6|L4|SOCKERR|L7/);
  });

  test("timeout classes: a node in the fast class is taken down by HAProxy's own check sooner", async () => {
    const stack = await startStack();
    const fast = await node("fastnode");
    const slow = await node("slownode");
    await stack.consul.register(ttlRegistration("fastnode", fast.port, { Meta: { haproxy_timeout: "fast" } }));
    await stack.consul.register(ttlRegistration("slownode", slow.port, { Meta: { haproxy_timeout: "slow" } }));
    await syncOk(stack);
    await eventually(() => stack.stat("fast1"), (row) => row.status === "UP", "fast1 UP");
    await eventually(() => stack.stat("slow1"), (row) => row.status === "UP", "slow1 UP");
    // Each node sits in its own class's slot, and in no other.
    assert.equal((await stack.stat("fast1"))["addr"], `127.0.0.1:${fast.port}`);
    assert.equal((await stack.stat("slow1"))["addr"], `127.0.0.1:${slow.port}`);
    const elsewhere = (await stack.servers("main_back")).filter((row) => !["fast1", "slow1"].includes(row.svname) && row.status !== "MAINT");
    assert.deepEqual(elsewhere.map((row) => row.svname), [], "no other slot holds either node");
    // The slow node fails first and keeps failing; then the fast one. The fast
    // class (fall 1, inter 100ms) takes its node down while the slow class
    // (fall 5, inter 5s) still has its node UP, although it failed earlier.
    slow.setHealthy(false);
    await eventually(() => stack.stat("slow1"), (row) => Number(row["chkfail"] ?? 0) >= 1, "slow1 saw a failed check");
    fast.setHealthy(false);
    await eventually(() => stack.stat("fast1"), (row) => (row.status ?? "").startsWith("DOWN"), "fast1 DOWN (fall 1, inter 100ms)");
    const slowRow = await stack.stat("slow1");
    assert.ok((slowRow.status ?? "").startsWith("UP"), `slow1 (fall 5, inter 5s) is still ${slowRow.status}`);
  });

  test("a node asking for a class the backend lacks is left out with the reason", async () => {
    const stack = await startStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("odd", a.port, { Meta: { haproxy_timeout: "glacial" } }));
    const result = await stack.sync();
    assert.equal(result.code, 3, "left out for want of a class: exit 3, as watch");
    const watched = await stack.cli(["watch"], { stdin: "" });
    assert.equal(watched.code, 3, watched.stderr);
    assert.ok(hasLog(watched.stderr, { message: "node left out", serviceId: "odd" }), watched.stderr);
    assert.ok(hasLog(result.stderr, { message: "node left out", serviceId: "odd", reason: /^no slot class for scheme=http timeout=glacial;/ }), result.stderr);
  });

  test("an HTTP check registered through curl-like JSON works end to end", async () => {
    const stack = await startStack();
    const a = await node("http-checked");
    await stack.consul.register(registration("http-checked", a.port));
    // Consul starts HTTP checks critical until the first one runs.
    await eventually(
      async () => {
        await stack.sync();
        return stack.stat("srv1");
      },
      (row) => row.status === "UP",
      "node UP once Consul's HTTP check passed",
    );
  });
});
