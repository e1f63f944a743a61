// Every way a Consul answer can go wrong, through the fault proxy in front
// of a real Consul, with `run` driving a real HAProxy. For each fault: the
// handler logs it with its cause and counts it, no slot loses its node
// while it lasts (a change made meanwhile is not applied), and once the
// fault is lifted the handler converges on its own.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { FaultMode } from "../../harness/fault-proxy.js";
import { eventually, hasLog, ttlRegistration } from "../handler/stack.js";
import { node, startFaultStack } from "./fault-stack.js";

export interface FaultCase {
  mode: Exclude<FaultMode, "pass" | "empty">;
  /** The `reason` in the log line and the `cause` label (consul-<reason>). */
  reason: string;
  /** How many faulty answers to serve before the fault is lifted. */
  answers: number;
  /** Deadline for converging after the fault is lifted. */
  convergeMs: number;
}

/** One test per fault (a file per few faults keeps each file well under the runner's 2-minute limit). */
export function describeFaults(title: string, cases: readonly FaultCase[]): void {
  describe(title, () => {
  for (const fault of cases) {
    test(`${fault.mode}: logged as ${fault.reason}, counted, nothing drained; converges after`, async () => {
      const lab = await startFaultStack();
      const before = await lab.serving();
      lab.proxy.mode = fault.mode;
      const logged = { message: /not trusted; HAProxy left as it is/, reason: fault.reason };
      await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, logged), `the ${fault.mode} answer logged with reason ${fault.reason}`, 30_000);
      assert.ok(((await lab.metric(`consul_haproxy_handler_failures_total{cause="consul-${fault.reason}"}`)) ?? 0) >= 1, "counted in consul_haproxy_handler_failures_total");
      assert.equal((await lab.healthz()).status, 503, "healthz says Consul is not trusted");

      // A change while the fault lasts: one node leaves, one joins.
      const newcomer = await node("newcomer");
      await lab.stack.consul.deregister("n0");
      await lab.stack.consul.register(ttlRegistration("newcomer", newcomer.port));
      const served = lab.proxy.served(fault.mode);
      await eventually(() => Promise.resolve(lab.proxy.served(fault.mode)), (count) => count >= Math.max(served + 1, fault.answers), `${fault.answers} faulty answers served`, 30_000);
      assert.deepEqual(await lab.serving(), before, "every slot kept its node, UP, while the fault lasted");

      lab.proxy.mode = "pass";
      const newcomerAddress = `127.0.0.1:${newcomer.port}`;
      const gone = `127.0.0.1:${lab.nodes[0]!.port}`;
      await eventually(
        () => lab.serving(),
        (rows) => rows.some((row) => row.includes(newcomerAddress) && row.endsWith(" UP")) && !rows.some((row) => row.includes(gone) && !row.endsWith("DRAIN")),
        "the change applied once the fault is lifted",
        fault.convergeMs,
      );
      await eventually(() => lab.healthz(), (health) => health.status === 200, "healthy again");
      assert.ok(hasLog(lab.cli.logs(), { message: "Consul answers again", service: "iri" }));
      assert.equal(await lab.cli.stop(), 0);
    });
  }
});
}
