import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AgentMembership } from "../../../handler/source/agent-membership.js";
import type { ConsulHttpAnswer } from "../../../handler/source/consul-http.js";

interface AgentState {
  self?: ConsulHttpAnswer;
  serf?: string;
  /** The serfHealth check's indexes ("create/modify"); default "7/9". */
  serfIndexes?: string;
  /** The agent's own checks, by ID. */
  checks?: Record<string, { Status: string; Output: string; Type: string }>;
  /** The catalog's status of each check (serfHealth aside); absent: not in the catalog. */
  catalogChecks?: Record<string, string>;
  services?: string[];
  catalogServices?: string[];
}

function ok(body: unknown): ConsulHttpAnswer {
  return { statusCode: 200, headers: {}, body };
}

/** A Consul agent's answers to the paths the membership check asks, from a description of its state. */
function agent(state: AgentState): { get: (path: string) => Promise<ConsulHttpAnswer>; asked: string[] } {
  const asked: string[] = [];
  const get = (path: string): Promise<ConsulHttpAnswer> => {
    asked.push(path);
    if (path === "/v1/agent/self") return Promise.resolve(state.self ?? ok({ Config: { NodeName: "lb-1" } }));
    if (path === "/v1/health/node/lb-1") {
      const checks = [
        ...(state.serf === undefined
          ? []
          : [{ CheckID: "serfHealth", Status: state.serf, Output: state.serf === "passing" ? "Agent alive and reachable" : "Agent not live or unreachable", CreateIndex: Number((state.serfIndexes ?? "7/9").split("/")[0]), ModifyIndex: Number((state.serfIndexes ?? "7/9").split("/")[1]) }]),
        ...Object.entries(state.catalogChecks ?? {}).map(([id, status]) => ({ CheckID: id, Status: status })),
      ];
      return Promise.resolve(ok(checks));
    }
    if (path === "/v1/agent/checks") return Promise.resolve(ok(state.checks ?? {}));
    if (path === "/v1/agent/services") return Promise.resolve(ok(Object.fromEntries((state.services ?? []).map((id) => [id, { ID: id }]))));
    if (path === "/v1/catalog/node/lb-1") return Promise.resolve(ok({ Node: { Node: "lb-1" }, Services: Object.fromEntries((state.catalogServices ?? []).map((id) => [id, { ID: id }])) }));
    return Promise.reject(new Error(`unexpected path ${path}`));
  };
  return { get, asked };
}

describe("AgentMembership", () => {
  test("a member when its node's serfHealth passes (in the servers' view)", async () => {
    const consul = agent({ serf: "passing" });
    assert.deepEqual(await new AgentMembership(consul.get).check(), { kind: "member", node: "lb-1", serfStamp: "7/9" });
    assert.deepEqual(consul.asked, ["/v1/agent/self", "/v1/health/node/lb-1"]);
  });

  test("not a member while serfHealth is critical; the reason names the node and the check", async () => {
    const verdict = await new AgentMembership(agent({ serf: "critical" }).get).check();
    assert.equal(verdict.kind, "not-member");
    assert.match(verdict.kind === "not-member" ? verdict.problem : "", /node lb-1 is not a live member of its cluster \(serfHealth critical: Agent not live or unreachable\)/);
  });

  test("not a member while its node is not in the catalog; the node name is asked again next time", async () => {
    const consul = agent({});
    const membership = new AgentMembership(consul.get);
    const verdict = await membership.check();
    assert.equal(verdict.kind, "not-member");
    assert.match(verdict.kind === "not-member" ? verdict.problem : "", /node lb-1 is not in the catalog/);
    await membership.check();
    assert.equal(consul.asked.filter((path) => path === "/v1/agent/self").length, 2);
  });

  test("the node name is read once while the node is known", async () => {
    const consul = agent({ serf: "passing" });
    const membership = new AgentMembership(consul.get);
    await membership.check();
    await membership.check();
    assert.equal(consul.asked.filter((path) => path === "/v1/agent/self").length, 1);
  });

  test("an agent that does not answer: its error goes to the caller; a token without agent:read leaves it unchecked", async () => {
    await assert.rejects(new AgentMembership(() => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:8500"))).check(), /ECONNREFUSED/);
    const denied = await new AgentMembership(agent({ self: { statusCode: 403, headers: {}, body: "Permission denied" }, serf: "passing" }).get).check();
    assert.equal(denied.kind, "unchecked");
    assert.match(denied.kind === "unchecked" ? denied.why : "", /agent:read/);
    const broken = await new AgentMembership(agent({ self: { statusCode: 500, headers: {}, body: "rpc error" } }).get).check();
    assert.equal(broken.kind, "not-member");
  });

  const settledAgent: AgentState = {
    serf: "passing",
    checks: { "service:a": { Status: "passing", Output: "HTTP GET: 200 OK", Type: "http" }, "ttl-b": { Status: "critical", Output: "", Type: "ttl" } },
    catalogChecks: { "service:a": "passing", "ttl-b": "critical" },
    services: ["a", "b"],
    catalogServices: ["a", "b"],
  };

  test("settled: the agent's services and checks are in the catalog as it sees them (a TTL check waits for its application)", async () => {
    const consul = agent(settledAgent);
    assert.deepEqual(await new AgentMembership(consul.get).check("settled"), { kind: "member", node: "lb-1", serfStamp: "7/9" });
    assert.ok(consul.asked.includes("/v1/catalog/node/lb-1"));
  });

  test("a serfHealth check registered again (the node left and came back) has another stamp", async () => {
    const before = await new AgentMembership(agent({ serf: "passing", serfIndexes: "7/9" }).get).check();
    const after = await new AgentMembership(agent({ serf: "passing", serfIndexes: "31/31" }).get).check();
    assert.ok(before.kind === "member" && after.kind === "member");
    assert.notEqual(before.serfStamp, after.serfStamp);
  });

  test("not settled: registrations not back in the catalog (anti-entropy's full sync), a check not run since the start, a status not synced", async () => {
    const cases: [AgentState, RegExp, "registrations" | "checks"][] = [
      [{ ...settledAgent, catalogServices: ["a"] }, /service\(s\) b are not back in the catalog/, "registrations"],
      [{ ...settledAgent, checks: { ...settledAgent.checks, "service:a": { Status: "critical", Output: "", Type: "http" } }, catalogChecks: { ...settledAgent.catalogChecks, "service:a": "critical" } }, /check service:a has not run since the agent started/, "checks"],
      [{ ...settledAgent, catalogChecks: { "ttl-b": "critical" } }, /check\(s\) service:a are not back in the catalog/, "registrations"],
      [{ ...settledAgent, catalogChecks: { ...settledAgent.catalogChecks, "service:a": "critical" } }, /check service:a reads critical in the catalog, passing on the agent/, "checks"],
    ];
    for (const [state, problem, waitingFor] of cases) {
      const verdict = await new AgentMembership(agent(state).get).check("settled");
      assert.equal(verdict.kind, "unsettled", String(problem));
      assert.match(verdict.kind === "unsettled" ? verdict.problem : "", problem);
      assert.equal(verdict.kind === "unsettled" ? verdict.waitingFor : undefined, waitingFor, String(problem));
      // The light check does not look at any of it.
      assert.equal((await new AgentMembership(agent(state).get).check("member")).kind, "member");
    }
  });
});
