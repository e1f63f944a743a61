import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MembershipGate, SETTLE_LIMIT_MS } from "../../../handler/source/membership-gate.js";
import type { MembershipCheck } from "../../../handler/source/agent-membership.js";
import { createLogger } from "../../../handler/log.js";

const logger = createLogger("error");

/** The agent as a script of verdicts; records which depth each check asked for. */
function scripted(verdicts: MembershipCheck[]): { ask: (depth: "member" | "settled") => Promise<MembershipCheck>; depths: string[] } {
  const depths: string[] = [];
  return {
    depths,
    ask: (depth) => {
      depths.push(depth);
      const next = verdicts.shift();
      if (!next) throw new Error("no verdict left");
      return Promise.resolve(next);
    },
  };
}

const member: MembershipCheck = { kind: "member", node: "lb-1" };
const notMember: MembershipCheck = { kind: "not-member", problem: "serfHealth critical" };

describe("MembershipGate", () => {
  test("first a settled check and a fresh read (rejoined), then trusted on the light check", async () => {
    const agent = scripted([member, member]);
    const gate = new MembershipGate(agent.ask, logger);
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "member"]);
  });

  test("a failed watch puts the agent in doubt: settled again, and read afresh", async () => {
    const agent = scripted([member, member, member]);
    const gate = new MembershipGate(agent.ask, logger);
    await gate.check();
    gate.doubt();
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "settled", "member"]);
  });

  test("not a member: the problem is kept for /healthz until it is one again, and it is not trusted without a fresh read", async () => {
    const agent = scripted([member, member, notMember, member, member]);
    const gate = new MembershipGate(agent.ask, logger);
    await gate.check();
    await gate.check();
    assert.deepEqual(await gate.check(), { kind: "not-member", problem: "serfHealth critical" });
    assert.equal(gate.problem, "serfHealth critical");
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.equal(gate.problem, undefined);
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "member", "member", "settled", "member"]);
  });

  test("a rejoined agent that never settles is believed after SETTLE_LIMIT_MS once its node is alive, and not before", async () => {
    const unsettled: MembershipCheck = { kind: "not-member", problem: "its check web has not run since the agent started" };
    const agent = scripted([unsettled, unsettled, member, member]);
    let clock = 1_000;
    const gate = new MembershipGate(agent.ask, logger, () => clock);
    assert.equal((await gate.check()).kind, "not-member");
    clock += SETTLE_LIMIT_MS - 1;
    assert.equal((await gate.check()).kind, "not-member", "still waiting just under the limit");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" }, "at the limit: the node alive is enough");
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "settled", "member", "member"]);
  });

  test("the settle limit starts afresh after each doubt", async () => {
    const agent = scripted([member, notMember, member]);
    let clock = 0;
    const gate = new MembershipGate(agent.ask, logger, () => clock);
    await gate.check();
    clock += SETTLE_LIMIT_MS * 2;
    gate.doubt();
    assert.equal((await gate.check()).kind, "not-member");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(agent.depths, ["settled", "settled", "settled"]);
  });

  test("the settle limit counts from the agent's last answer after it could not be asked: time while it was down (restarting) does not use it up", async () => {
    const unsettled: MembershipCheck = { kind: "not-member", problem: "its check web has not run since the agent started" };
    const answers: (MembershipCheck | Error)[] = [unsettled, new Error("cannot reach Consul (ECONNREFUSED)"), unsettled, unsettled, member];
    const depths: string[] = [];
    const ask = (depth: "member" | "settled") => {
      depths.push(depth);
      const next = answers.shift();
      return next instanceof Error ? Promise.reject(next) : next ? Promise.resolve(next) : Promise.reject(new Error("no verdict left"));
    };
    let clock = 0;
    const gate = new MembershipGate(ask, logger, () => clock);
    assert.equal((await gate.check()).kind, "not-member");
    clock += SETTLE_LIMIT_MS - 1;
    assert.equal((await gate.check()).kind, "not-member", "down: restarting");
    clock += 10;
    assert.equal((await gate.check()).kind, "not-member", "answering again but not settled: the limit starts here");
    clock += SETTLE_LIMIT_MS - 1;
    assert.equal((await gate.check()).kind, "not-member", "still under the limit since it answered again");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(depths, ["settled", "settled", "settled", "settled", "member"]);
  });

  test("an agent that cannot be asked is not a member, with the error as the problem", async () => {
    const gate = new MembershipGate(() => Promise.reject(new Error("cannot reach Consul at http://127.0.0.1:8500")), logger);
    assert.deepEqual(await gate.check(), { kind: "not-member", problem: "cannot reach Consul at http://127.0.0.1:8500" });
    assert.equal(gate.problem, "cannot reach Consul at http://127.0.0.1:8500");
  });

  test("unchecked (no agent:read): believed as before", async () => {
    const gate = new MembershipGate(scripted([{ kind: "unchecked", why: "no agent:read" }, { kind: "unchecked", why: "no agent:read" }]).ask, logger);
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.equal(gate.problem, undefined);
  });
});
