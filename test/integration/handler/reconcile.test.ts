// The handler against a real Consul and a real HAProxy: register, settings,
// health, deregister, slot reuse, running out of slots, TLS and timing classes.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, makeTestCa, makeSelfSigned, type TestNode } from "../../harness/backends.js";
import { eventually, hasLog, registration, startStack, ttlRegistration, type Stack } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

async function node(name: string, options: Parameters<typeof startNode>[1] = {}): Promise<TestNode> {
  const started = await startNode(name, options);
  nodes.push(started);
  return started;
}

async function syncOk(stack: Stack): Promise<void> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
}

describe("reconcile against real Consul and HAProxy", () => {
  test("register -> slot UP and a request through HAProxy reaches the node; pow false/true/only", async () => {
    const stack = await startStack();
    const plain = await node("plain");
    const both = await node("both");
    const only = await node("only");
    await stack.consul.register(ttlRegistration("plain", plain.port));
    await stack.consul.register(ttlRegistration("both", both.port, { Meta: { haproxy_pow: "true" } }));
    await stack.consul.register(ttlRegistration("only", only.port, { Tags: ["haproxy.pow=only"] }));
    await syncOk(stack);

    const main = await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "two UP slots in main_back");
    const pow = await eventually(() => stack.servers("pow_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "two UP slots in pow_back");
    const addressesUp = (rows: typeof main) => rows.filter((row) => row.status === "UP").map((row) => row["addr"]).sort();
    assert.deepEqual(addressesUp(main), [`127.0.0.1:${both.port}`, `127.0.0.1:${plain.port}`].sort());
    assert.deepEqual(addressesUp(pow), [`127.0.0.1:${both.port}`, `127.0.0.1:${only.port}`].sort());
    // The lowest slots are used, in service ID order.
    assert.equal((await stack.stat("srv1")).addr, `127.0.0.1:${both.port}`);
    assert.equal((await stack.stat("srv2")).addr, `127.0.0.1:${plain.port}`);

    const seen = new Set<string>();
    for (let i = 0; i < 6; i += 1) seen.add((await stack.request()).node ?? "none");
    assert.deepEqual([...seen].sort(), ["both", "plain"]);
    const powSeen = new Set<string>();
    for (let i = 0; i < 6; i += 1) powSeen.add((await stack.request('{"command":"attachToTangle","trunkTransaction":"x"}')).node ?? "none");
    assert.deepEqual([...powSeen].sort(), ["both", "only"]);

    // A second run changes nothing.
    const again = await stack.cli(["sync", "--dry-run"]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to do/);
  });

  test("maxconn and weight applied, and reset when the slot is reused", async () => {
    const stack = await startStack({ slots: 1 });
    const first = await node("first");
    const second = await node("second");
    await stack.consul.register(ttlRegistration("first", first.port, { Meta: { haproxy_maxconn: "7", haproxy_weight: "20", haproxy_pow: "true", haproxy_pow_maxconn: "1" } }));
    await syncOk(stack);
    // The slot is filled held DOWN until HAProxy's own check passes; wait for
    // that, or a drain would show as DOWN rather than DRAIN below.
    let row = await eventually(() => stack.stat("srv1"), (r) => r.status === "UP", "srv1 UP for the first node");
    assert.equal(row["slim"], "7");
    assert.equal(row["weight"], "20");
    assert.equal((await stack.stat("srv1", "pow_back"))["slim"], "1");

    // Deregister: drained, then freed; then the slot is reused by a node without settings.
    await stack.consul.deregister("first");
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "DRAIN");
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "MAINT");
    await stack.consul.register(ttlRegistration("second", second.port));
    await syncOk(stack);
    row = await eventually(() => stack.stat("srv1"), (r) => r.status === "UP", "srv1 UP for the second node");
    assert.equal(row["addr"], `127.0.0.1:${second.port}`);
    assert.equal(row["slim"], "", "maxconn back to the default: no limit");
    assert.equal(row["weight"], "1", "weight back to the default");
    assert.equal((await stack.stat("srv1", "pow_back")).status, "MAINT", "second node is not a PoW node");
  });

  test("a check going critical takes the node out of rotation; passing brings it back", async () => {
    const stack = await startStack();
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.register(ttlRegistration("b", b.port));
    await syncOk(stack);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "both UP");

    const failed = await stack.consul.api("PUT", "/v1/agent/check/fail/ttl-a");
    assert.equal(failed.status, 200);
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "MAINT");
    for (let i = 0; i < 6; i += 1) assert.equal((await stack.request()).node, "b");

    await stack.consul.api("PUT", "/v1/agent/check/pass/ttl-a");
    await syncOk(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${a.port}`, "a back UP in its own slot");
  });

  test("Consul maintenance mode drains; deregister drains, then frees the slot once idle", async () => {
    const stack = await startStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    await syncOk(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "srv1 UP");

    await stack.consul.api("PUT", "/v1/agent/service/maintenance/a?enable=true&reason=test");
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "DRAIN");
    await stack.consul.api("PUT", "/v1/agent/service/maintenance/a?enable=false");
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "UP");

    await stack.consul.deregister("a");
    await syncOk(stack);
    assert.equal((await stack.stat("srv1")).status, "DRAIN");
    await syncOk(stack);
    const freed = await stack.stat("srv1");
    assert.equal(freed.status, "MAINT");
  });

  test("slots running out: the nodes left out are named, healthy nodes are not evicted", async () => {
    const stack = await startStack({ slots: 2 });
    const started = await Promise.all(["n1", "n2", "n3"].map((name) => node(name)));
    const address = (index: number) => `127.0.0.1:${started[index]!.port}`;
    // n2 and n3 hold both slots first; n1 comes later and sorts before them
    // (slots are filled in service ID order), so an evicting planner would
    // hand it a slot that a healthy node holds.
    await stack.consul.register(ttlRegistration("n2", started[1]!.port));
    await stack.consul.register(ttlRegistration("n3", started[2]!.port));
    await syncOk(stack);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "n2 and n3 UP");
    const holders = async () => Object.fromEntries((await stack.servers("main_back")).filter((row) => row.svname.startsWith("srv")).map((row) => [row.svname, `${row["addr"]} ${row.status}`]));
    const before = await holders();
    assert.deepEqual(before, { srv1: `${address(1)} UP`, srv2: `${address(2)} UP` });

    await stack.consul.register(ttlRegistration("n1", started[0]!.port));
    const result = await stack.sync();
    assert.equal(result.code, 3, "applied what it could, a node left out for lack of slots: exit 3");
    assert.ok(hasLog(result.stderr, { level: "error", message: "node left out", serviceId: "n1", reason: /^no free slot in main_back\/srv \(2 slots, all held\)/ }), result.stderr);
    assert.deepEqual(await holders(), before, "the healthy nodes keep their slots, by address");
    // Freeing a slot lets the waiting node in on the next runs.
    await stack.consul.deregister("n2");
    assert.equal((await stack.sync()).code, 3, "drain; n1 still waits");
    assert.equal((await stack.sync()).code, 3, "free (no sessions) -> maint; n1 still waits");
    assert.equal((await stack.sync()).code, 0, "fill with n1: nobody left out any more");
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["addr"] === address(0), "n1 takes the freed slot");
    assert.equal((await stack.stat("srv2"))["addr"], address(2), "n3 never moved");
  });

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
