// A node registered at an address that is no node's (0.0.0.0, ::, multicast,
// broadcast) is rejected with the usual log line, and causes no churn: on
// today's main a 0.0.0.0 node read back as a free slot, so every reconcile
// filled another slot with it.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import { eventually, hasLog, startStack, ttlRegistration } from "../handler/stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("addresses that are no node's", () => {
  test("0.0.0.0, ::, multicast and broadcast are rejected; repeated syncs change nothing", async () => {
    const stack = await startStack({ slots: 6 });
    const good = await startNode("good");
    nodes.push(good);
    await stack.consul.register(ttlRegistration("good", good.port));
    const bad = { "zero-v4": "0.0.0.0", "zero-v6": "::", multicast: "239.1.2.3", broadcast: "255.255.255.255" };
    // The agent API refuses these as Service.Address; the catalog takes them as Node.Address.
    for (const [id, address] of Object.entries(bad)) {
      const registered = await stack.consul.api("PUT", "/v1/catalog/register", {
        Node: `node-${id}`,
        Address: address,
        Service: { ID: id, Service: "iri", Port: good.port },
        Check: { CheckID: `check-${id}`, Name: "up", Status: "passing", ServiceID: id },
      });
      assert.equal(registered.status, 200, JSON.stringify(registered.json));
    }

    const first = await stack.sync();
    assert.equal(first.code, 0, first.stderr);
    for (const [id, address] of Object.entries(bad)) {
      assert.ok(hasLog(first.stderr, { message: "node left out: invalid setting", serviceId: id, key: "address", value: address }), `${id} (${address}) named in the log: ${first.stderr}`);
    }
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${good.port}`, "the good node applied");
    const settled = (await stack.servers("main_back")).map((row) => `${row.svname} ${row["addr"]} ${row.status}`);

    for (let round = 0; round < 3; round += 1) {
      const again = await stack.sync();
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /"message":"fill"/, `no slot is filled on round ${round + 1}`);
    }
    assert.deepEqual((await stack.servers("main_back")).map((row) => `${row.svname} ${row["addr"]} ${row.status}`), settled, "the slots stay as they were");
    assert.equal((await stack.servers("main_back")).filter((row) => row.status !== "MAINT").length, 1, "one slot used: the good node's");
  });
});
