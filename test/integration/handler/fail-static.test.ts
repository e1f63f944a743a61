// Fail static and safety: Consul down, ACLs, hostile values, concurrent
// watches, and HAProxy restarted under the handler.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { startNode, type TestNode } from "../../harness/backends.js";
import { eventually, hasLog, startStack, ttlRegistration, type Stack } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  nodes.push(started);
  return started;
}

/** The slots' observable state, to prove that nothing changed. */
async function snapshot(stack: Stack): Promise<string[]> {
  const rows = [...(await stack.servers("main_back")), ...(await stack.servers("pow_back"))];
  return rows.map((row) => `${row.pxname}/${row.svname} ${row.status} ${row["addr"]} w=${row["weight"]} max=${row["slim"]}`);
}

describe("fail static", () => {
  test("Consul stopped -> HAProxy untouched and a non-zero exit; converges when Consul is back", async () => {
    const stack = await startStack();
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.register(ttlRegistration("b", b.port));
    const first = await stack.sync();
    assert.equal(first.code, 0, first.stderr);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "two UP");
    const before = await snapshot(stack);

    await stack.consul.stop();
    const during = await stack.sync();
    assert.equal(during.code, 1);
    assert.ok(hasLog(during.stderr, { message: /not trusted; HAProxy left as it is/, reason: "unreachable", detail: /^cannot reach Consul at .*ECONNREFUSED/ }), during.stderr);
    assert.deepEqual(await snapshot(stack), before, "nothing changed while Consul was down");

    await stack.consul.start();
    // The agent restores its services from its data dir; TTL checks may come back
    // critical, so the test says a is healthy again and b is gone.
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.api("PUT", "/v1/agent/check/pass/ttl-a");
    await stack.consul.deregister("b");
    await eventually(
      async () => {
        await stack.sync();
        return stack.stat("srv2");
      },
      (row) => row.status !== "UP",
      "b taken out of rotation after Consul is back",
    );
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a still UP");
  });

  test("ACLs default deny: a valid token works; a missing token wipes nothing", async () => {
    const stack = await startStack({ acl: true });
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    const token = await stack.consul.createToken('service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\nagent_prefix "" { policy = "read" }');
    const tokenFile = join(dirname(stack.configFile), "token");
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o400 });

    const withToken = await stack.cli(["sync"], { env: { CONSUL_HTTP_TOKEN: token } });
    assert.equal(withToken.code, 0, withToken.stderr);
    assert.doesNotMatch(withToken.stderr, new RegExp(token), "the token is never logged");
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "srv1 UP with a valid token");
    const before = await snapshot(stack);

    const noToken = await stack.sync();
    assert.equal(noToken.code, 1);
    assert.ok(hasLog(noToken.stderr, { reason: "acl-filtered", detail: /probably ACL-filtered/ }), noToken.stderr);
    assert.deepEqual(await snapshot(stack), before, "a missing token wipes nothing");

    const badToken = await stack.cli(["sync"], { env: { CONSUL_HTTP_TOKEN: "00000000-0000-0000-0000-000000000000" } });
    assert.equal(badToken.code, 1);
    assert.ok(hasLog(badToken.stderr, { reason: "acl-denied", detail: /HTTP 403/ }), badToken.stderr);
    assert.deepEqual(await snapshot(stack), before);

    // A token too weak to see the nodes is treated like a missing one.
    const weak = await stack.consul.createToken('service "iri" { policy = "read" }');
    const weakRun = await stack.cli(["sync"], { env: { CONSUL_HTTP_TOKEN: weak } });
    assert.equal(weakRun.code, 1);
    assert.deepEqual(await snapshot(stack), before);
  });

  test("hostile values in tags, Meta and addresses reach nothing; other nodes still apply", async () => {
    const stack = await startStack();
    const good = await node("good");
    const hostile: [string, Record<string, unknown>][] = [
      ["h-tag", { Tags: ["haproxy.maxconn=1; disable frontend front"] }],
      ["h-meta-newline", { Meta: { haproxy_weight: "5\nshutdown frontend front" } }],
      ["h-pow", { Meta: { haproxy_pow: "true;show info" } }],
      ["h-addr", { Address: "127.0.0.1; disable frontend front" }],
      ["h-host", { Address: "localhost" }],
      ["h-node-meta-like", { Meta: { haproxy_maxconn: "99999999999" } }],
      ["h-timeout", { Meta: { haproxy_timeout: "x;disable frontend front" } }],
    ];
    for (const [id, extra] of hostile) await stack.consul.register(ttlRegistration(id, 40000, extra));
    await stack.consul.register(ttlRegistration("good", good.port));
    const result = await stack.sync();
    assert.equal(result.code, 0, result.stderr);
    for (const [id] of hostile) assert.ok(hasLog(result.stderr, { message: "node left out: invalid setting", serviceId: id }), `${id} is named in the log`);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${good.port}`, "the good node applied");
    const used = (await stack.servers("main_back")).filter((row) => row.status !== "MAINT");
    assert.equal(used.length, 1, "only the good node holds a slot");
    // The frontend still serves: nothing disabled it.
    assert.equal((await stack.request()).node, "good");
    const frontend = (await stack.admin.showStat()).find((row) => row.pxname === "front" && row.svname === "FRONTEND");
    assert.equal(frontend?.status, "OPEN");
  });
});

describe("triggers", () => {
  test("ten concurrent watch runs end in the right state", async () => {
    const stack = await startStack({ slots: 12 });
    const started = await Promise.all(Array.from({ length: 10 }, (_, index) => node(`w${index}`)));
    const runs = started.map(async (started_, index) => {
      await stack.consul.register(ttlRegistration(`w${index}`, started_.port));
      const payload = JSON.stringify((await stack.consul.api("GET", "/v1/health/service/iri")).json);
      return stack.cli(["watch"], { stdin: payload });
    });
    const results = await Promise.all(runs);
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const rows = await eventually(() => stack.servers("main_back"), (all) => all.filter((row) => row.status === "UP").length === 10, "ten UP");
    const addresses = rows.filter((row) => row.status === "UP").map((row) => row["addr"]).sort();
    assert.deepEqual(addresses, started.map((started_) => `127.0.0.1:${started_.port}`).sort());
    // One node per slot, no duplicates.
    assert.equal(new Set(addresses).size, 10);
  });

  test("HAProxy restarted -> the next run restores slots and maxconn", async () => {
    const stack = await startStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port, { Meta: { haproxy_maxconn: "9", haproxy_pow: "true" } }));
    assert.equal((await stack.sync()).code, 0);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["slim"] === "9", "srv1 UP with maxconn 9");

    await stack.haproxy.restart();
    const empty = await stack.stat("srv1");
    assert.equal(empty.status, "MAINT", "a fresh HAProxy starts with empty slots");
    assert.equal((await stack.sync()).code, 0);
    const restored = await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "srv1 UP again");
    assert.equal(restored["slim"], "9");
    assert.equal((await stack.stat("srv1", "pow_back"))["slim"], "2", "PoW default maxconn restored too");
  });
});
