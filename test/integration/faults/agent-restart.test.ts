// The load balancer's own Consul agent restarting, against a real Consul
// server, a separate client agent (the load balancer's, joined to it) and a
// real HAProxy. Until the servers see the restarted agent alive again and it
// has put its registrations back, the instances registered through it read
// critical (or are missing): `run` must not believe that, and must converge
// once the agent has settled.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startConsul, type ConsulAgent } from "../../harness/consul.js";
import { eventually, hasLog, registration, startStack } from "../handler/stack.js";
import { node, patchConfig, startRun } from "./fault-stack.js";

const RESTARTS = 20;

/** The servers' view of the client's node: serfHealth and every check of its instances passing. */
async function settled(server: ConsulAgent, client: ConsulAgent, instances: number): Promise<boolean> {
  const checks = (await server.api("GET", `/v1/health/node/${client.nodeName}`)).json as { CheckID: string; Status: string }[] | null;
  if (!Array.isArray(checks)) return false;
  return checks.length === instances + 1 && checks.every((check) => check.Status === "passing");
}

describe("the load balancer's Consul agent restarts", () => {
  test(`${RESTARTS} restarts of the local agent never leave the backend without an UP server; run converges within seconds of the agent settling (2 s target, figure printed)`, async (t) => {
    const stack = await startStack({ slots: 6 });
    const client = await startConsul({ joins: stack.consul });
    // The client agent is this test's own: stopped even when an assertion fails.
    t.after(() => client.cleanup());
    const nodes = await Promise.all(["a", "b"].map((name) => node(name)));
    // Two instances, both registered through the load balancer's agent: under the
    // mass-removal guard's minimum, so only the membership check keeps them.
    for (const [index, each] of nodes.entries()) await client.register(registration(`n${index}`, each.port));
    await eventually(() => settled(stack.consul, client, nodes.length), (yes) => yes, "both instances passing", 30_000);
    patchConfig(stack, (config) => {
      config["consul"] = { address: client.address, timeoutMs: 1000, blockingWaitSeconds: 2 };
      config["run"] = { listen: "127.0.0.1:0", resyncSeconds: 3600 };
    });
    const { cli, listen } = await startRun(stack);
    const up = async (): Promise<number> => (await stack.servers("main_back")).filter((row) => row.status === "UP").length;
    await eventually(up, (count) => count === nodes.length, "both nodes UP through run", 30_000);

    // HAProxy sampled all along: every sample must show an UP server.
    let sampling = true;
    let samples = 0;
    const empty: string[] = [];
    const sampler = (async () => {
      while (sampling) {
        const rows = await stack.servers("main_back");
        samples += 1;
        if (!rows.some((row) => row.status === "UP")) empty.push(`${new Date().toISOString()} ${rows.filter((row) => row.status !== "MAINT").map((row) => `${row.svname}:${row.status}`).join(" ")}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const healthz = async (): Promise<number> => (await fetch(`http://${listen}/healthz`)).status;
    for (let restart = 1; restart <= RESTARTS; restart += 1) {
      // Alternately a graceful leave (systemctl restart: the servers take the
      // node's instances out) and a crash (the instances come back critical).
      await client.stop(restart % 2 === 0 ? "SIGKILL" : "SIGTERM");
      await client.start("api");
      // Half the time the next restart comes before the agent has settled.
      if (restart % 4 !== 0) await eventually(() => settled(stack.consul, client, nodes.length), (yes) => yes, `the agent settled after restart ${restart}`, 30_000);
    }
    const settledAt = await eventually(
      async () => ((await settled(stack.consul, client, nodes.length)) ? Date.now() : undefined),
      (at) => at !== undefined,
      "the agent settled after the last restart",
      30_000,
      { intervalMs: 20 },
    );
    const convergedAt = await eventually(async () => ((await healthz()) === 200 && (await up()) === nodes.length ? Date.now() : undefined), (at) => at !== undefined, "run healthy with both nodes UP", 30_000, { intervalMs: 20 });
    sampling = false;
    await sampler;

    assert.ok(samples > 100, `HAProxy was sampled all along (${samples} samples)`);
    // With the handler's log: which answer it acted on says whether Consul itself read the nodes critical (a check timeout) or the membership check let a restarting agent's answer through.
    // The handler's slot steps (drain, update with the reason Consul gave) say whether it followed Consul's own verdict or a restarting agent's answer.
    const steps = cli.logs().split("\n").filter((line) => /"message":"(drain|update|fill|free)/.test(line)).slice(-20).join("\n");
    assert.deepEqual(empty, [], `main_back had no UP server in ${empty.length} of ${samples} samples; the handler's slot steps:\n${steps}\nthe end of its log: ${cli.logs().slice(-4000)}`);
    assert.ok(hasLog(cli.logs(), { message: "the local Consul agent is not a live member of its cluster; HAProxy left as it is" }), `run said why it left HAProxy as it was: ${cli.logs().slice(-3000)}`);
    const metrics = await (await fetch(`http://${listen}/metrics`)).text();
    assert.match(metrics, /^consul_haproxy_handler_failures_total\{cause="consul-agent-not-member"\} [1-9]/m, "counted");
    // The target is 2 s (the membership check is asked again every 500 ms); a
    // 2-core CI machine running four other lanes took 2,340 ms once. Asserted
    // at 5 s, which still fails a handler that waits for its resync (3,600 s
    // here) or a long backoff to act; the figure is printed.
    const convergedMs = convergedAt - settledAt;
    t.diagnostic(`converged ${convergedMs} ms after the agent settled (target 2,000 ms)`);
    assert.ok(convergedMs <= 5000, `converged ${convergedMs} ms after the agent settled`);
    assert.equal(await cli.stop(), 0);
  });
});
