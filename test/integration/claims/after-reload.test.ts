// README claims about what survives a reload or restart, without a slots
// file (a hand-written haproxy.cfg): slots added by `grow` vanish on a reload
// of HAProxy and the next reconcile adds them again; a node in a slot class
// of its own (another server-template prefix) is found there by a fresh
// handler process, and returns to that class's slot after HAProxy reloads.
// HAProxy runs in master-worker mode and is reloaded with SIGUSR2, as its
// systemd unit does.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMasterWorker, type MasterWorkerHaproxy } from "../../harness/haproxy-master.js";
import { eventually, startStack, ttlRegistration, type Stack, type StackOptions } from "../handler/stack.js";
import { held, node, onCleanup, syncOk } from "./claims-lib.js";

/** The test stack, with its HAProxy replaced by a master-worker one on the same config and ports. */
async function reloadableStack(options: StackOptions): Promise<{ stack: Stack; haproxy: MasterWorkerHaproxy }> {
  const stack = await startStack(options);
  await stack.haproxy.stop();
  const haproxy = await startMasterWorker({
    configFiles: [stack.haproxy.configFile],
    masterSocket: join(stack.haproxy.directory, "master.sock"),
    adminAddress: stack.haproxy.adminAddress,
    stateFile: join(stack.haproxy.directory, "server-state"),
  });
  onCleanup(() => haproxy.stop());
  return { stack, haproxy };
}

describe("after a reload or restart", () => {
  test("grow: the added slot vanishes on a reload and the next reconcile adds it again, with the same node", async () => {
    const { stack, haproxy } = await reloadableStack({ slots: 1, grow: true });
    const g1 = await node("g1");
    const g2 = await node("g2");
    await stack.consul.register(ttlRegistration("g1", g1.port));
    await stack.consul.register(ttlRegistration("g2", g2.port));
    await syncOk(stack);
    const expected = [`main_back/srv1 127.0.0.1:${g1.port} UP`, `main_back/srv2 127.0.0.1:${g2.port} UP`];
    await eventually(() => held(stack), (rows) => JSON.stringify(rows) === JSON.stringify(expected), "srv1 and the grown srv2 UP");

    await haproxy.reload();
    const names = (await stack.servers("main_back")).map((row) => row.svname);
    assert.ok(!names.includes("srv2"), `the reloaded HAProxy has no srv2 (a dynamic server): ${names.join(" ")}`);

    await syncOk(stack);
    await eventually(() => held(stack), (rows) => JSON.stringify(rows) === JSON.stringify(expected), "srv2 added again, g2 UP in it");
    const again = await stack.cli(["sync", "--dry-run"]);
    assert.match(again.stdout, /nothing to do/, "converged");
  });

  test("slot classes: a fresh handler finds the node in its class's slot; after a reload it returns to that class's slot", async () => {
    const { stack, haproxy } = await reloadableStack({ slots: 4 });
    const plain = await node("plain");
    const quick = await node("quick");
    await stack.consul.register(ttlRegistration("plain", plain.port));
    await stack.consul.register(ttlRegistration("quick", quick.port, { Meta: { haproxy_timeout: "fast" } }));
    await syncOk(stack);
    const expected = [`main_back/fast1 127.0.0.1:${quick.port} UP`, `main_back/srv1 127.0.0.1:${plain.port} UP`];
    await eventually(() => held(stack), (rows) => JSON.stringify(rows) === JSON.stringify(expected), "quick in fast1, plain in srv1");

    // Every CLI run is a new process with no memory: the class comes from the slot's name.
    const fresh = await stack.cli(["sync", "--dry-run"]);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, /nothing to do/, "a fresh handler keeps quick in fast1");

    await haproxy.reload();
    assert.deepEqual(await held(stack), [], "the reload emptied every slot (no slots file, no state loaded)");
    await syncOk(stack);
    await eventually(() => held(stack), (rows) => JSON.stringify(rows) === JSON.stringify(expected), "quick back in fast1, plain in srv1");
  });
});
