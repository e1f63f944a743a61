// Fail static and safety: Consul down, ACLs, hostile values, concurrent
// watches, and HAProxy restarted under the handler.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { parse } from "yaml";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    // After every run: a keeps its slot, UP, at its address (a run that wiped
    // the slots would show here), and b leaves by the drain path.
    const aSeen: string[] = [];
    const bRow = await eventually(
      async () => {
        await stack.sync();
        const aRow = await stack.stat("srv1");
        aSeen.push(`${aRow.status} ${aRow["addr"]}`);
        return stack.stat("srv2");
      },
      (row) => row.status === "DRAIN" || row.status === "MAINT",
      "b taken out of rotation after Consul is back",
    );
    assert.equal(bRow["addr"], `127.0.0.1:${b.port}`, "b's slot was drained, not refilled");
    assert.deepEqual([...new Set(aSeen)], [`UP 127.0.0.1:${a.port}`], "a was never taken out");
    const aRow = await stack.stat("srv1");
    assert.ok(Number(aRow["lastchg"]) >= 1, `a's status never changed since before Consul stopped (lastchg ${aRow["lastchg"]})`);
  });

  test("ACLs default deny: a valid token (from consul.tokenFile) works; a missing token wipes nothing", async () => {
    // The token file is named in the config, so the handler can only have the
    // token from there (CONSUL_HTTP_TOKEN is emptied for every CLI run).
    const tokenDirectory = mkdtempSync(join(tmpdir(), "cht-token-"));
    const tokenFile = join(tokenDirectory, "token");
    const stack = await startStack({ acl: true, handler: (base) => ({ ...base, consul: { ...(base["consul"] as Record<string, unknown>), tokenFile } }) });
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    const token = await stack.consul.createToken('service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\nagent_prefix "" { policy = "read" }');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o400 });

    const withToken = await stack.sync();
    assert.equal(withToken.code, 0, withToken.stderr);
    assert.doesNotMatch(withToken.stderr, new RegExp(token), "the token is never logged");
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "srv1 UP with a valid token");
    const before = await snapshot(stack);

    // An empty token file is refused with its reason, before any read.
    writeFileSync(tokenFile, "", { mode: 0o600 });
    const emptyFile = await stack.sync();
    assert.equal(emptyFile.code, 1);
    assert.ok(hasLog(emptyFile.stderr, { reason: "token", detail: /token file .* is empty/ }), emptyFile.stderr);
    assert.deepEqual(await snapshot(stack), before, "an empty token file wipes nothing");

    // No token at all (the same config without consul.tokenFile).
    const withoutTokenFile = parse(readFileSync(stack.configFile, "utf8")) as { consul: Record<string, unknown> };
    delete withoutTokenFile.consul["tokenFile"];
    const noToken = await runCli(["--config", writeHandlerConfig(withoutTokenFile), "sync"]);
    assert.equal(noToken.code, 1);
    assert.ok(hasLog(noToken.stderr, { reason: "acl-filtered", detail: /probably ACL-filtered/ }), noToken.stderr);
    assert.deepEqual(await snapshot(stack), before, "a missing token wipes nothing");

    writeFileSync(tokenFile, "00000000-0000-0000-0000-000000000000\n");
    const badToken = await stack.sync();
    assert.equal(badToken.code, 1);
    assert.ok(hasLog(badToken.stderr, { reason: "acl-denied", detail: /HTTP 403/ }), badToken.stderr);
    assert.deepEqual(await snapshot(stack), before);

    // A token too weak to see the nodes is treated like a missing one.
    const weak = await stack.consul.createToken('service "iri" { policy = "read" }');
    writeFileSync(tokenFile, `${weak}\n`);
    const weakRun = await stack.sync();
    assert.equal(weakRun.code, 1);
    assert.ok(hasLog(weakRun.stderr, { message: /not trusted; HAProxy left as it is/, reason: "acl-filtered" }), weakRun.stderr);
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
