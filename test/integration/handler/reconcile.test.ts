// The handler against a real Consul and a real HAProxy: register, settings,
// health, deregister, slot reuse, running out of slots (reconcile-classes.test.ts:
// grow, TLS and timing classes). Two files, so each stays well inside the
// runner's per-file timeout on a loaded machine.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, hasLog, startStack, ttlRegistration } from "./stack.js";
import { node, syncOk } from "./test-nodes.js";

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
});
