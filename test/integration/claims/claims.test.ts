// README and docs/operators.md claims that had no test: hold-down, slots
// never compacted, resync repairing drift, /healthz's reason, and the
// metrics the other tests do not read.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import { startCli, type RunningCli } from "../../harness/cli.js";
import { commands } from "../../../handler/haproxy-runtime-api/index.js";
import { eventually, startStack, ttlRegistration, type Stack } from "../handler/stack.js";

const nodes: TestNode[] = [];
const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
  await Promise.all(nodes.map((node) => node.stop()));
});

async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  nodes.push(started);
  return started;
}

async function syncOk(stack: Stack): Promise<void> {
  const result = await stack.sync();
  assert.equal(result.code, 0, `sync failed: ${result.stderr}`);
}

async function listenAddress(cli: RunningCli): Promise<string> {
  const logs = await eventually(() => Promise.resolve(cli.logs()), (text) => /"message":"listening"/.test(text), "the listener to start");
  const address = /"message":"listening"[^\n]*"address":"(127\.0\.0\.1:\d+)"|"address":"(127\.0\.0\.1:\d+)"[^\n]*"message":"listening"/.exec(logs);
  const found = address?.[1] ?? address?.[2];
  assert.ok(found, `no listening address in the logs: ${logs}`);
  return found;
}

/** Samples of the Prometheus text, by `name{labels}`. */
async function metrics(listen: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${listen}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (sample) samples.set(sample[1] ?? "", Number(sample[2]));
  }
  return samples;
}

describe("claims", () => {
  test("hold-down on: a filled slot takes no traffic before HAProxy's first check passes; off: it is UP at once", async () => {
    for (const holdDown of [true, false]) {
      // A first check that cannot finish for 10 s: the slot's state before it is
      // held that long, whenever HAProxy starts the check after the slot
      // leaves maint (at once on HAProxy 3.2, up to `inter` later elsewhere).
      const stack = await startStack({ timeoutCheck: "10s", handler: (base) => ({ ...base, haproxy: { ...(base["haproxy"] as Record<string, unknown>), holdDownUntilChecked: holdDown } }) });
      // Consul says passing (TTL), but the node's health endpoint hangs: only
      // HAProxy's own check can tell, and not before `timeout check`.
      const sick = await node(`sick-${holdDown}`);
      sick.setHealthy("hang");
      // The slow class (inter 5s, fall 5): without hold-down HAProxy would
      // need 5 failed checks to take it down, so the hazard is visible.
      await stack.consul.register(ttlRegistration("sick", sick.port, { Meta: { haproxy_timeout: "slow" } }));
      await syncOk(stack);
      // The slot left maint just before sync exited: sampled for a second
      // inside the 10 s before any check can end.
      const synced = Date.now();
      const seen: string[] = [];
      for (let sample = 0; sample < 5; sample += 1) {
        seen.push((await stack.stat("slow1")).status ?? "");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const first = await stack.request();
      assert.ok(Date.now() - synced < 8000, `sampled within the check's 10 s (took ${Date.now() - synced} ms)`);
      const checked = await eventually(
        () => stack.stat("slow1"),
        (row) => row["addr"] === `127.0.0.1:${sick.port}` && !/INI/.test(row["check_status"] ?? "INI") && row["check_status"] !== "",
        "HAProxy's first check of the slot",
        40_000,
      );
      assert.match(checked["check_status"] ?? "", /L7TOUT/, "the check timed out");
      assert.equal(seen.length, 5);
      if (holdDown) {
        assert.ok(seen.every((status) => status.startsWith("DOWN")), `DOWN all along before the first check (seen ${seen.join(", ")})`);
        assert.match(checked.status ?? "", /^DOWN/);
        assert.deepEqual(first, { status: 503, node: undefined }, "no request reached the unchecked node");
      } else {
        assert.ok(seen.every((status) => status.startsWith("UP")), `UP all along before the first check without hold-down (seen ${seen.join(", ")})`);
        assert.equal(first.node, `sick-${holdDown}`, "without hold-down traffic reaches the node before any check");
      }
    }
  });

  test("slots are never compacted: a node keeps its slot number when lower slots are freed", async () => {
    const stack = await startStack();
    const started = await Promise.all(["c1", "c2", "c3"].map((name) => node(name)));
    for (const [index, started_] of started.entries()) await stack.consul.register(ttlRegistration(`c${index + 1}`, started_.port));
    await syncOk(stack);
    await eventually(() => stack.stat("srv3"), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${started[2]!.port}`, "c3 UP in srv3");
    await stack.consul.deregister("c1");
    await stack.consul.deregister("c2");
    // Drain, then free: srv1 and srv2 end in MAINT, c3 stays where it is.
    await eventually(
      async () => {
        await stack.sync();
        return stack.servers("main_back");
      },
      (rows) => rows.filter((row) => row.svname === "srv1" || row.svname === "srv2").every((row) => row.status === "MAINT"),
      "srv1 and srv2 freed",
    );
    await syncOk(stack);
    const c3 = await stack.stat("srv3");
    assert.equal(c3["addr"], `127.0.0.1:${started[2]!.port}`);
    assert.equal(c3.status, "UP");
    const dryRun = await stack.cli(["sync", "--dry-run"]);
    assert.match(dryRun.stdout, /nothing to do/, "no move planned");
  });

  test("run: the periodic resync repairs drift; /healthz says why it is unhealthy; the other metrics", async () => {
    const stack = await startStack({ slots: 4, handler: (base) => ({ ...base, run: { listen: "127.0.0.1:0", resyncSeconds: 1 } }) });
    const a = await node("a");
    const other = await node("classless");
    await stack.consul.register(ttlRegistration("a", a.port));
    // One node with no slot class (left out) and one with an invalid setting (rejected).
    await stack.consul.register(ttlRegistration("classless", other.port, { Meta: { haproxy_timeout: "glacial" } }));
    await stack.consul.register(ttlRegistration("hostile", 40000, { Meta: { haproxy_weight: "5;shutdown" } }));
    const cli = startCli(["--config", stack.configFile, "run"]);
    running.push(cli);
    const listen = await listenAddress(cli);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP");

    // Drift behind the handler's back: nothing changes in Consul, only the resync can see it.
    await stack.admin.execute([commands.setServerWeight("main_back", "srv1", 99)]);
    await eventually(() => stack.stat("srv1"), (row) => row["weight"] === "1", "the resync put the weight back");

    const samples = await eventually(() => metrics(listen), (found) => (found.get("consul_haproxy_handler_reconcile_duration_seconds_count") ?? 0) >= 2, "two reconciles measured");
    assert.equal(samples.get("consul_haproxy_handler_nodes_left_out"), 1, "the classless node is left out");
    assert.equal(samples.get("consul_haproxy_handler_nodes_rejected"), 1, "the hostile node is rejected");
    assert.ok((samples.get('consul_haproxy_handler_failures_total{cause="left-out"}') ?? 0) >= 1);
    // The same outcome sync and watch exit 3 for: not counted as ok.
    assert.ok((samples.get('consul_haproxy_handler_reconciles_total{result="left-out"}') ?? 0) >= 2, "every reconcile left the classless node out");
    assert.equal(samples.get('consul_haproxy_handler_reconciles_total{result="ok"}') ?? 0, 0);
    assert.ok((samples.get("consul_haproxy_handler_last_success_timestamp_seconds") ?? 0) > Date.now() / 1000 - 600, "a recent success");
    const healthy = await fetch(`http://${listen}/healthz`);
    assert.deepEqual([healthy.status, await healthy.text()], [200, "ok\n"]);

    await stack.haproxy.restart();
    await eventually(() => metrics(listen), (found) => found.get("consul_haproxy_handler_haproxy_restarts_total") === 1, "the restart counted");

    await stack.consul.stop();
    const down = await eventually(
      async () => {
        const response = await fetch(`http://${listen}/healthz`);
        return { status: response.status, body: await response.text() };
      },
      (answer) => answer.status === 503,
      "healthz 503 while Consul is down",
    );
    assert.match(down.body, /^Consul not trusted: cannot reach Consul/, "the reason is in the body");
    await stack.consul.start();
    assert.equal(await cli.stop(), 0);
  });
});
