// Version-aware routing against real Consul, HAProxy and HTTP nodes that
// answer with their version: a rollout never mixes incompatible versions,
// promote switches at once and is kept in Consul KV, and the ACL it needs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, hasLog, startStack } from "./stack.js";
import { versionNode, register, syncOk, versioned, versionsSeen, upSlots } from "./versions-lib.js";

describe("versioning: rollout and promote", () => {
  test("a rollout: compatible PATCHes mix, a new MINOR waits (checked, no traffic), then takes over when the old ones are gone", async () => {
    const stack = await startStack({ handler: versioned() });
    const a = await versionNode("a", "1.0.1");
    const b = await versionNode("b", "1.0.1");
    const c = await versionNode("c", "1.0.2");
    const d = await versionNode("d", "1.1.0");
    await register(stack, a, "1.0.1");
    await register(stack, b, "1.0.1");
    await syncOk(stack);
    await upSlots(stack, [a.port, b.port]);
    assert.deepEqual([...(await versionsSeen(stack, 20)).keys()], ["1.0.1"]);

    // 1.0.2 is compatible with 1.0.1: it serves at once (once HAProxy's check passes).
    await register(stack, c, "1.0.2");
    await syncOk(stack);
    await upSlots(stack, [c.port]);
    const mixed = await versionsSeen(stack, 30);
    assert.deepEqual([...mixed.keys()].sort(), ["1.0.1", "1.0.2"]);

    // 1.1.0 is not: its slot is filled and HAProxy checks it (UP), but it gets no request.
    await register(stack, d, "1.1.0");
    await syncOk(stack);
    await upSlots(stack, [d.port]);
    const waiting = await stack.stat((await stack.servers("main_back")).find((row) => row["addr"] === `127.0.0.1:${d.port}`)?.svname ?? "");
    assert.equal(waiting.weight, "0");
    const hitsBefore = d.hits;
    const during = await versionsSeen(stack, 60);
    assert.deepEqual([...during.keys()].sort(), ["1.0.1", "1.0.2"]);
    assert.equal(d.hits, hitsBefore, "the waiting generation received no request");
    // HAProxy 2.6 keeps checking a weight-0 server: a failing health endpoint shows DOWN, a passing one UP again.
    d.setHealthy(false);
    await eventually(() => stack.servers("main_back"), (rows) => rows.some((row) => row["addr"] === `127.0.0.1:${d.port}` && (row.status ?? "").startsWith("DOWN")), "the waiting slot DOWN by HAProxy's own check");
    d.setHealthy(true);
    await upSlots(stack, [d.port]);

    const status = await stack.cli(["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { versions: { service: string; serving: string }[]; backends: { backend: string; slots: { serviceId: string | null; version?: string | null; role?: string | null }[] }[] };
    assert.equal(report.versions[0]?.serving, "1.0.x");
    const rows = report.backends.find((backend) => backend.backend === "main_back")?.slots ?? [];
    assert.deepEqual(rows.find((row) => row.serviceId === "d"), { ...rows.find((row) => row.serviceId === "d"), version: "1.1.0", role: "waiting" });
    assert.equal(rows.find((row) => row.serviceId === "a")?.role, "serving");
    const table = await stack.cli(["status"]);
    assert.match(table.stdout, /service iri: serving 1\.0\.x, waiting 1\.1\.x \(1\/1 healthy\)/);

    // The last 1.0.x instances leave: 1.1.0 takes over in one reconcile, logged once with the reason.
    for (const id of ["a", "b", "c"]) await stack.consul.deregister(id);
    const switchLog = await syncOk(stack);
    assert.ok(hasLog(switchLog, { message: "serving generation switched", service: "iri", to: "1.1.x", reason: /no instance left in Consul/ }), switchLog);
    assert.deepEqual([...(await versionsSeen(stack, 20)).keys()], ["1.1.0"]);
    const quiet = await syncOk(stack);
    assert.ok(!hasLog(quiet, { message: "serving generation switched" }), "a switch is logged once");
  });

  test("promote: the operator's version serves at once, and the promotion survives in Consul KV", async () => {
    const stack = await startStack({ handler: versioned() });
    const a = await versionNode("pa", "1.0.1");
    const d = await versionNode("pd", "1.1.0");
    await register(stack, a, "1.0.1");
    await syncOk(stack);
    await upSlots(stack, [a.port]);
    await register(stack, d, "1.1.0");
    await syncOk(stack);
    await upSlots(stack, [d.port]);
    assert.deepEqual([...(await versionsSeen(stack, 10)).keys()], ["1.0.1"]);

    const promoted = await stack.cli(["promote", "iri", "1.1.0"]);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /served by 1\.1\.x/);
    assert.ok(hasLog(promoted.stderr, { message: "serving generation switched", to: "1.1.x", reason: /promoted by the operator/ }), promoted.stderr);
    assert.deepEqual([...(await versionsSeen(stack, 10)).keys()], ["1.1.0"]);
    const kv = await stack.consul.api("GET", "/v1/kv/consul-haproxy-handler/iri/promoted?raw");
    assert.equal(kv.status, 200);
    // A fresh handler process (every sync is one) keeps it: nothing to do.
    const again = await stack.cli(["sync", "--dry-run"]);
    assert.match(again.stdout, /nothing to do/);

    const invalid = await stack.cli(["promote", "iri", "1.1"]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /MAJOR\.MINOR\.PATCH/);
    const cleared = await stack.cli(["promote", "iri", "--clear"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    // Cleared: the sticky rule keeps 1.1.x (HAProxy shows it serving).
    assert.match(cleared.stdout, /served by 1\.1\.x/);
  });

  test("ACLs: the handler's token needs key read on consul-haproxy-handler/ (write to promote); without it HAProxy stays as it is", async () => {
    const stack = await startStack({ acl: true, handler: versioned() });
    const a = await versionNode("acl-a", "1.0.1");
    await register(stack, a, "1.0.1");
    const rules = 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\nagent_prefix "" { policy = "read" }';
    const withoutKv = await stack.consul.createToken(rules);
    const denied = await stack.cli(["sync"], { env: { CONSUL_HTTP_TOKEN: withoutKv } });
    assert.equal(denied.code, 1, `sync without key read succeeded: ${denied.stderr}`);
    assert.match(denied.stderr, /key_prefix \\"consul-haproxy-handler\/\\"/);
    assert.ok((await stack.servers("main_back")).every((row) => row.status === "MAINT"), "HAProxy untouched");
    const check = await stack.cli(["check-config"], { env: { CONSUL_HTTP_TOKEN: withoutKv } });
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stdout, /^FAIL consul kv: .*key_prefix/m);
    // The rules the handler role grants.
    const granted = await stack.consul.createToken(`${rules}\nkey_prefix "consul-haproxy-handler/" { policy = "write" }`);
    const synced = await stack.cli(["sync"], { env: { CONSUL_HTTP_TOKEN: granted } });
    const checkGranted = await stack.cli(["check-config"], { env: { CONSUL_HTTP_TOKEN: granted } });
    assert.match(checkGranted.stdout, /^ok {3}consul kv: promoted versions readable \(none promoted\)/m);
    assert.equal(synced.code, 0, synced.stderr);
    const promoted = await stack.cli(["promote", "iri", "1.0.1"], { env: { CONSUL_HTTP_TOKEN: granted } });
    assert.equal(promoted.code, 0, promoted.stderr);
  });
});
