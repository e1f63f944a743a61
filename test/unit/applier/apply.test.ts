// The applier's safety rule with a fake runtime session (a pure unit test:
// the session only records commands and answers as scripted). Batch 2
// (state, health) runs only for steps whose batch 1 (address, weight,
// maxconn) all succeeded.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applyPlan, planCommands } from "../../../handler/applier/apply.js";
import type { CommandReply, RuntimeCommand, RuntimeSession } from "../../../handler/haproxy-runtime-api/index.js";
import type { PlanStep } from "../../../handler/planner/model.js";

/** What HAProxy answers on success: most set commands print nothing. */
function successReply(text: string): string {
  if (/^set server \S+ addr /.test(text)) return "IP changed from '0.0.0.0' to '10.0.0.1', port changed from '80' to '14265' by 'stats socket command'";
  if (text.startsWith("add server ")) return "New server registered.";
  return "";
}

/** Records every batch; refuses the commands `refuse` matches with HAProxy's own words. */
class FakeSession implements RuntimeSession {
  readonly batches: string[][] = [];
  constructor(private readonly refuse: (text: string) => boolean = () => false) {}

  execute(commandList: readonly RuntimeCommand[]): Promise<CommandReply[]> {
    this.batches.push(commandList.map((command) => command.text));
    return Promise.resolve(
      commandList.map((command) => {
        const output = this.refuse(command.text) ? "Invalid addr: refused by the fake session." : successReply(command.text);
        return { command: command.text, output, ok: command.succeeded(output) };
      }),
    );
  }

  get sent(): string[] {
    return this.batches.flat();
  }
}

function fill(server: string, address: string): PlanStep {
  return {
    backend: "be",
    server,
    serviceId: server,
    reason: "fill",
    prepare: [
      { kind: "set-addr", address, port: 14265 },
      { kind: "set-weight", weight: 3 },
      { kind: "set-maxconn", maxconn: 7 },
    ],
    activate: [
      { kind: "set-state", state: "ready" },
      { kind: "set-health", health: "down" },
    ],
  };
}

describe("applier", () => {
  test("a refused set server addr sends no activate command for that slot; other slots still apply", async () => {
    const session = new FakeSession((text) => text.startsWith("set server be/srv2 addr"));
    const steps = [fill("srv1", "10.0.0.1"), fill("srv2", "10.0.0.2"), fill("srv3", "10.0.0.3")];
    const report = await applyPlan(session, steps);

    assert.equal(session.batches.length, 2, "prepare and activate are two batches");
    // Batch 1 has every prepare command, for every step, in plan order.
    assert.deepEqual(session.batches[0], [
      "set server be/srv1 addr 10.0.0.1 port 14265",
      "set server be/srv1 weight 3",
      "set maxconn server be/srv1 7",
      "set server be/srv2 addr 10.0.0.2 port 14265",
      "set server be/srv2 weight 3",
      "set maxconn server be/srv2 7",
      "set server be/srv3 addr 10.0.0.3 port 14265",
      "set server be/srv3 weight 3",
      "set maxconn server be/srv3 7",
    ]);
    // Batch 2: nothing for srv2, the others in order, ready before health down.
    assert.deepEqual(session.batches[1], ["set server be/srv1 state ready", "set server be/srv1 health down", "set server be/srv3 state ready", "set server be/srv3 health down"]);
    assert.ok(!session.sent.some((text) => /be\/srv2 (state|health)/.test(text)), "srv2 never activated");

    assert.deepEqual(report.applied.map((step) => step.server), ["srv1", "srv3"]);
    assert.equal(report.failures.length, 1);
    assert.equal(report.failures[0]?.step.server, "srv2");
    assert.equal(report.failures[0]?.command, "set server be/srv2 addr 10.0.0.2 port 14265");
    assert.equal(report.failures[0]?.reply, "Invalid addr: refused by the fake session.");
    assert.equal(report.commandsSent, 9 + 4);
  });

  test("a refused weight or maxconn also holds the slot back", async () => {
    const session = new FakeSession((text) => text === "set maxconn server be/srv1 7");
    const report = await applyPlan(session, [fill("srv1", "10.0.0.1"), fill("srv2", "10.0.0.2")]);
    assert.deepEqual(session.batches[1], ["set server be/srv2 state ready", "set server be/srv2 health down"]);
    assert.deepEqual(report.applied.map((step) => step.server), ["srv2"]);
  });

  test("a refused activate command fails its step and only its step", async () => {
    const session = new FakeSession((text) => text === "set server be/srv1 health down");
    const report = await applyPlan(session, [fill("srv1", "10.0.0.1"), fill("srv2", "10.0.0.2")]);
    assert.deepEqual(report.applied.map((step) => step.server), ["srv2"]);
    assert.deepEqual(report.failures.map((failure) => failure.command), ["set server be/srv1 health down"]);
  });

  test("ready then health down stay in that order (also for --dry-run)", async () => {
    const session = new FakeSession();
    const step = fill("srv1", "10.0.0.1");
    await applyPlan(session, [step]);
    assert.deepEqual(session.batches[1], ["set server be/srv1 state ready", "set server be/srv1 health down"]);
    assert.deepEqual(planCommands([step]).slice(-2), ["set server be/srv1 state ready", "set server be/srv1 health down"]);
  });

  test("all prepare commands go before any activate command", () => {
    const commands = planCommands([fill("srv1", "10.0.0.1"), fill("srv2", "10.0.0.2")]);
    const lastPrepare = Math.max(...commands.map((text, index) => (/ (addr|weight|maxconn) /.test(text) ? index : -1)));
    const firstActivate = commands.findIndex((text) => / (state|health) /.test(text));
    assert.ok(lastPrepare < firstActivate, commands.join("\n"));
  });

  test("a step with only activate operations (drain) is sent in batch 2; an empty plan sends nothing", async () => {
    const session = new FakeSession();
    const drain: PlanStep = { backend: "be", server: "srv4", reason: "drain: left Consul", prepare: [], activate: [{ kind: "set-state", state: "drain" }] };
    const report = await applyPlan(session, [drain]);
    assert.deepEqual(session.batches, [["set server be/srv4 state drain"]]);
    assert.deepEqual(report, { applied: [drain], failures: [], commandsSent: 1 });
    const idle = new FakeSession();
    assert.deepEqual(await applyPlan(idle, []), { applied: [], failures: [], commandsSent: 0 });
    assert.deepEqual(idle.batches, []);
  });

  test("a grown slot: add server first, then enable health before the state", async () => {
    const session = new FakeSession();
    const grow: PlanStep = {
      backend: "be",
      server: "srv9",
      reason: "grow: no free slot",
      prepare: [{ kind: "add-server", address: "10.0.0.9", port: 14265, keywords: ["check", "inter", "2s"] }],
      activate: [{ kind: "enable-health" }, { kind: "set-state", state: "ready" }, { kind: "set-health", health: "down" }],
    };
    await applyPlan(session, [grow]);
    assert.deepEqual(session.batches, [["add server be/srv9 10.0.0.9:14265 check inter 2s"], ["enable health be/srv9", "set server be/srv9 state ready", "set server be/srv9 health down"]]);
  });

  test("a step with several refused commands reports its first refusal, once", async () => {
    const session = new FakeSession((text) => text.startsWith("set server be/srv1 addr") || text === "set maxconn server be/srv1 7");
    const report = await applyPlan(session, [fill("srv1", "10.0.0.1")]);
    assert.deepEqual(report.failures.map((failure) => failure.command), ["set server be/srv1 addr 10.0.0.1 port 14265"]);
    assert.deepEqual(report.applied, []);
    assert.equal(session.batches.length, 1, "no activate batch when every step failed in prepare");
    assert.equal(report.commandsSent, 3);
  });
});
