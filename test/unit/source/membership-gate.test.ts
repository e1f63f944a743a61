import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MembershipGate, REGISTRATIONS_LIMIT_MS, SETTLE_LIMIT_MS } from "../../../handler/source/membership-gate.js";
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

const member: MembershipCheck = { kind: "member", node: "lb-1", serfStamp: "7/9" };
/** The same node alive after it left (or failed) and came back: serfHealth registered again. */
const memberAgain: MembershipCheck = { kind: "member", node: "lb-1", serfStamp: "31/31" };
const checksPending: MembershipCheck = { kind: "unsettled", node: "lb-1", serfStamp: "7/9", waitingFor: "checks", problem: "its check web has not run since the agent started" };
const registrationsPending: MembershipCheck = { kind: "unsettled", node: "lb-1", serfStamp: "31/31", waitingFor: "registrations", problem: "its service(s) web are not back in the catalog yet" };
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

  test("a rejoined agent whose checks never settle is believed after SETTLE_LIMIT_MS once its node is alive, and not before", async () => {
    const agent = scripted([checksPending, checksPending, checksPending, member]);
    let clock = 1_000;
    const gate = new MembershipGate(agent.ask, logger, () => clock);
    assert.equal((await gate.check()).kind, "not-member");
    clock += SETTLE_LIMIT_MS - 1;
    assert.equal((await gate.check()).kind, "not-member", "still waiting just under the limit");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" }, "at the limit: the node alive is enough");
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "settled", "settled", "member"]);
  });

  test("registrations missing from the catalog are waited for longer (anti-entropy's next full sync): REGISTRATIONS_LIMIT_MS", async () => {
    const agent = scripted([registrationsPending, registrationsPending, registrationsPending]);
    let clock = 0;
    const gate = new MembershipGate(agent.ask, logger, () => clock);
    assert.equal((await gate.check()).kind, "not-member");
    clock += REGISTRATIONS_LIMIT_MS - 1;
    assert.ok(REGISTRATIONS_LIMIT_MS - 1 > SETTLE_LIMIT_MS);
    assert.equal((await gate.check()).kind, "not-member", "past the checks' limit, under the registrations' one");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
  });

  test("trusted, a node that left and came back unseen by the watches (another serfHealth stamp) must settle again, and its services are read afresh", async () => {
    const agent = scripted([member, member, memberAgain, registrationsPending, registrationsPending, memberAgain, memberAgain]);
    const gate = new MembershipGate(agent.ask, logger);
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    // The servers deregistered the node late and registered it again: alive, its services gone.
    assert.equal((await gate.check()).kind, "not-member");
    assert.match(gate.problem ?? "", /not back in the catalog/);
    assert.equal((await gate.check()).kind, "not-member");
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.deepEqual(await gate.check(), { kind: "trusted" });
    assert.deepEqual(agent.depths, ["settled", "member", "member", "settled", "settled", "settled", "member"]);
  });

  test("the settle limit starts afresh after each doubt", async () => {
    const agent = scripted([member, checksPending, member]);
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

  test("the settle limit counts from the agent's first unsettled answer after it could not be asked: time while it was down (restarting) does not use it up", async () => {
    const answers: (MembershipCheck | Error)[] = [checksPending, new Error("cannot reach Consul (ECONNREFUSED)"), notMember, checksPending, checksPending, checksPending];
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
    assert.equal((await gate.check()).kind, "not-member", "answering again, its node not alive yet");
    clock += 10;
    assert.equal((await gate.check()).kind, "not-member", "alive but not settled: the limit starts here");
    clock += SETTLE_LIMIT_MS - 1;
    assert.equal((await gate.check()).kind, "not-member", "still under the limit since it answered alive again");
    clock += 1;
    assert.deepEqual(await gate.check(), { kind: "rejoined" });
    assert.ok(depths.every((depth) => depth === "settled"));
  });

  test("admit: a rejoined agent's services are read afresh, and a check after the read vouches for them (the same node)", async () => {
    const agent = scripted([member, member, member]);
    const gate = new MembershipGate(agent.ask, logger);
    let reads = 0;
    assert.deepEqual(await gate.admit(() => Promise.resolve(void (reads += 1))), { kind: "read-afresh" });
    assert.equal(reads, 1);
    assert.deepEqual(await gate.admit(() => Promise.resolve(void (reads += 1))), { kind: "trusted" });
    assert.equal(reads, 1);
    assert.deepEqual(agent.depths, ["settled", "member", "member"]);
  });

  test("admit: a node that left while its services were read afresh (a graceful leave) is not believed, and must settle again", async () => {
    for (const afterRead of [notMember, memberAgain]) {
      const agent = scripted([member, afterRead, ...(afterRead === memberAgain ? [registrationsPending] : []), member, member]);
      const gate = new MembershipGate(agent.ask, logger);
      const admitted = await gate.admit(() => Promise.resolve());
      assert.equal(admitted.kind, "not-trusted", JSON.stringify(afterRead));
      assert.match(admitted.kind === "not-trusted" ? admitted.problem : "", afterRead === notMember ? /serfHealth critical/ : /not back in the catalog/);
      assert.deepEqual(await gate.admit(() => Promise.resolve()), { kind: "read-afresh" }, "asked again: settled, read, confirmed");
      assert.deepEqual(agent.depths.at(-2), "settled");
    }
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
