// Two SIGHUPs while a reconcile is in flight (an operator's `systemctl reload`
// beside a playbook's): the second reload must wait for the first. Run at
// once, both stopped the same loops and both started new ones, so every watch
// ran twice (two blocking reads of one service open at a time) for the rest of
// the process's life. The reconcile is held at a gate in front of HAProxy's
// admin socket, so the first reload is still waiting for it when the second
// SIGHUP comes (two SIGHUPs sent together would arrive as one). The blocking
// reads are counted at the fault proxy, in pass mode: Consul's own answers.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startGateProxy } from "../../harness/gate-proxy.js";
import { startFaultProxy, type FaultProxy } from "../../harness/fault-proxy.js";
import { eventually, logLines, startStack, ttlRegistration } from "../handler/stack.js";
import { node, patchConfig, startRun } from "./fault-stack.js";

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** The most blocking reads seen open at once on one path, over `ms` (sampled every 20 ms). */
async function mostOpenPerPath(proxy: FaultProxy, ms: number): Promise<{ most: number; paths: number }> {
  let most = 0;
  let paths = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const open = proxy.blockingOpen();
    paths = Math.max(paths, open.size);
    most = Math.max(most, ...open.values());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { most, paths };
}

describe("config reloads under run", () => {
  test("a SIGHUP during a reload waits for it; afterwards each watch still has one blocking read open", async () => {
    const stack = await startStack({ slots: 12 });
    const proxy = await startFaultProxy(stack.consul.address);
    cleanups.push(() => proxy.close());
    const gate = await startGateProxy({ host: "127.0.0.1", port: Number(/:(\d+)$/.exec(stack.haproxy.adminAddress)?.[1]) });
    cleanups.push(async () => gate.release());
    patchConfig(stack, (config) => {
      config["consul"] = { address: proxy.address, timeoutMs: 1000, blockingWaitSeconds: 2 };
      config["haproxy"] = { ...(config["haproxy"] as Record<string, unknown>), socket: gate.address };
      config["run"] = { listen: "127.0.0.1:0", resyncSeconds: 3600 };
    });
    const first = await node("a");
    await stack.consul.register(ttlRegistration("a", first.port));
    const { cli, listen } = await startRun(stack);
    cleanups.push(() => cli.stop("SIGKILL"));
    await eventually(() => stack.servers("main_back"), (rows) => rows.some((row) => row.status === "UP"), "a UP through run", 30_000);
    // blockingWaitSeconds is 2: 5 s covers two full cycles of every watch.
    const before = await mostOpenPerPath(proxy, 5_000);
    assert.ok(before.paths >= 1, "no blocking read seen at the proxy: the count below would prove nothing");
    assert.equal(before.most, 1, "one blocking read per watch before any reload");

    // A reconcile in flight: b's fill is held at the gate.
    gate.arm(/set server [^\n]* addr /);
    const second = await node("b");
    await stack.consul.register(ttlRegistration("b", second.port));
    await gate.held();
    const reloadsLogged = () => logLines(cli.logs()).filter((line) => line["message"] === "reloading the config").length;
    cli.child.kill("SIGHUP");
    await eventually(() => Promise.resolve(reloadsLogged()), (count) => count === 1, "the first reload waiting for the reconcile");
    cli.child.kill("SIGHUP");
    // The second is not begun while the first waits (give it the time it would need).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(reloadsLogged(), 1, "the second reload began while the first was still waiting");
    gate.release();
    const reloads = async () => {
      const text = await (await fetch(`http://${listen}/metrics`)).text();
      return /^consul_haproxy_handler_config_reloads_total\{result="ok"\} (\d+)$/m.exec(text)?.[1];
    };
    await eventually(reloads, (count) => count === "2", "both reloads done, one after the other", 20_000);

    const after = await mostOpenPerPath(proxy, 5_000);
    assert.equal(after.most, 1, `a watch ran twice after the reloads (${after.most} blocking reads of one path open at once)`);
    assert.equal(after.paths, before.paths, "the same watches as before");
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "a and b UP after the reloads", 30_000);
    assert.equal(await cli.stop(), 0, cli.logs());
  });
});
