// Whether the local Consul agent is a live member of its cluster. An agent
// that has just restarted answers at once, but until gossip marks its node
// alive again the servers list that node's `serfHealth` as critical, and so
// every instance registered through this agent reads critical. Believed, that
// answer empties the backends those instances serve. So an answer may only be
// acted on while the agent's own node has `serfHealth` passing.
//
// The node's name comes from /v1/agent/self (agent:read); its health from
// /v1/health/node/<name> (node:read), answered by the servers, which are the
// ones that decide whether the node is alive.
//
// Alive is not enough right after a restart: an agent that left gracefully
// had its services taken out of the catalog, and it puts them back (anti-
// entropy) a moment after it rejoins; and its restored checks read critical
// until they first run. So a `settled` check also asks that every service
// and check of the agent is in the catalog as the agent sees it, and that no
// check (TTL checks aside: the application feeds those) still waits for its
// first run. `run` asks for it after its watches lost the agent.
import type { ConsulHttpAnswer } from "./consul-http.js";

/** One GET against the local agent's HTTP API (the caller adds the token, TLS and deadline). */
export type AgentGet = (path: string) => Promise<ConsulHttpAnswer>;

export type MembershipCheck =
  /**
   * The agent's node is alive in the servers' view (and settled, if asked): its answers may be acted on.
   * `serfStamp`: the serfHealth check's create and modify indexes; another stamp later means the node
   * left (or failed) and came back in between, even if every check in between found it alive.
   */
  | { kind: "member"; node: string; serfStamp: string }
  /**
   * Alive, but a settled check was asked for and the agent has not put everything back yet:
   * `registrations` (services or checks missing from the catalog: anti-entropy's next full sync,
   * up to a minute or two) or `checks` (a check not run yet, a status not synced: seconds).
   */
  | { kind: "unsettled"; node: string; serfStamp: string; problem: string; waitingFor: "registrations" | "checks" }
  /** Not a live member (or not known to be one): act on nothing. */
  | { kind: "not-member"; problem: string }
  /** The token may not read the agent (no agent:read): membership cannot be checked, answers are believed as before. */
  | { kind: "unchecked"; why: string };

/** The serf health check every Consul node carries; critical while the servers see the node as failed or left. */
const SERF_HEALTH = "serfHealth";

function nodeNameOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const config = (body as Record<string, unknown>)["Config"];
  if (typeof config !== "object" || config === null) return undefined;
  const name = (config as Record<string, unknown>)["NodeName"];
  return typeof name === "string" && name !== "" ? name : undefined;
}

function serfHealthOf(body: unknown): { status: string; output: string; stamp: string } | undefined {
  if (!Array.isArray(body)) return undefined;
  for (const check of body as unknown[]) {
    if (typeof check !== "object" || check === null) continue;
    const fields = check as Record<string, unknown>;
    if (fields["CheckID"] !== SERF_HEALTH) continue;
    return {
      status: typeof fields["Status"] === "string" ? fields["Status"] : "unknown",
      output: typeof fields["Output"] === "string" ? fields["Output"] : "",
      stamp: `${String(fields["CreateIndex"] ?? "?")}/${String(fields["ModifyIndex"] ?? "?")}`,
    };
  }
  return undefined;
}

interface AgentCheck {
  status: string;
  output: string;
  type: string;
}

/** /v1/agent/checks: the agent's own view of its checks, by ID. */
function agentChecksOf(body: unknown): Map<string, AgentCheck> | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const checks = new Map<string, AgentCheck>();
  for (const [id, raw] of Object.entries(body as Record<string, unknown>)) {
    if (typeof raw !== "object" || raw === null) continue;
    const fields = raw as Record<string, unknown>;
    checks.set(id, { status: String(fields["Status"] ?? ""), output: String(fields["Output"] ?? ""), type: String(fields["Type"] ?? "") });
  }
  return checks;
}

/** /v1/health/node/<name>: the catalog's status of each of the node's checks, by ID. */
function catalogChecksOf(body: unknown): Map<string, string> {
  const checks = new Map<string, string>();
  if (!Array.isArray(body)) return checks;
  for (const raw of body as unknown[]) {
    if (typeof raw !== "object" || raw === null) continue;
    const fields = raw as Record<string, unknown>;
    if (typeof fields["CheckID"] === "string") checks.set(fields["CheckID"], String(fields["Status"] ?? ""));
  }
  return checks;
}

/** /v1/catalog/node/<name> `Services`, or /v1/agent/services: the service IDs. */
function serviceIdsOf(body: unknown): string[] | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  return Object.keys(body as Record<string, unknown>);
}

function isDenied(answer: ConsulHttpAnswer): boolean {
  return answer.statusCode === 403 || answer.statusCode === 401;
}

export class AgentMembership {
  /** The agent's node name, read once; read again when the node is not found (a renamed agent). */
  private node: string | undefined;

  constructor(private readonly get: AgentGet) {}

  /**
   * `settled`: also the agent's own services and checks in the catalog as the
   * agent sees them, every check run once. Throws what `get` throws (the agent
   * unreachable, a timeout).
   */
  async check(depth: "member" | "settled" = "member"): Promise<MembershipCheck> {
    if (this.node === undefined) {
      const self = await this.get("/v1/agent/self");
      if (isDenied(self)) return { kind: "unchecked", why: "the token may not read the local agent (/v1/agent/self); give it agent:read (agent_prefix \"\" { policy = \"read\" }) so that answers given while the agent rejoins its cluster are not believed" };
      if (self.statusCode < 200 || self.statusCode > 299) return { kind: "not-member", problem: `the local Consul agent answered HTTP ${self.statusCode} for /v1/agent/self: ${String(self.body).trim().slice(0, 200)}` };
      const name = nodeNameOf(self.body);
      if (name === undefined) return { kind: "not-member", problem: "the local Consul agent's /v1/agent/self names no node (Config.NodeName)" };
      this.node = name;
    }
    const node = this.node;
    const health = await this.get(`/v1/health/node/${encodeURIComponent(node)}`);
    if (health.statusCode < 200 || health.statusCode > 299) {
      return { kind: "not-member", problem: `Consul answered HTTP ${health.statusCode} for the health of the local agent's node ${node}: ${String(health.body).trim().slice(0, 200)}` };
    }
    const serf = serfHealthOf(health.body);
    if (serf === undefined) {
      this.node = undefined;
      return { kind: "not-member", problem: `the local Consul agent's node ${node} is not in the catalog (no ${SERF_HEALTH} check): it has not joined its cluster (yet); HAProxy left as it is until it has` };
    }
    if (serf.status !== "passing") {
      return {
        kind: "not-member",
        problem: `the local Consul agent's node ${node} is not a live member of its cluster (${SERF_HEALTH} ${serf.status}${serf.output ? `: ${serf.output.trim().slice(0, 200)}` : ""}): the instances registered through it read critical until gossip marks it alive; HAProxy left as it is until then`,
      };
    }
    if (depth === "settled") {
      const unsettled = await this.unsettled(node, catalogChecksOf(health.body));
      if (unsettled !== undefined) {
        return { kind: "unsettled", node, serfStamp: serf.stamp, waitingFor: unsettled.waitingFor, problem: `the local Consul agent (node ${node}) rejoined its cluster but ${unsettled.what}; HAProxy left as it is until it has` };
      }
    }
    return { kind: "member", node, serfStamp: serf.stamp };
  }

  /** What the agent has not yet put right after a restart, if anything. */
  private async unsettled(node: string, catalogChecks: Map<string, string>): Promise<{ what: string; waitingFor: "registrations" | "checks" } | undefined> {
    const [checksAnswer, servicesAnswer, catalogAnswer] = await Promise.all([
      this.get("/v1/agent/checks"),
      this.get("/v1/agent/services"),
      this.get(`/v1/catalog/node/${encodeURIComponent(node)}`),
    ]);
    for (const answer of [checksAnswer, servicesAnswer, catalogAnswer]) {
      if (answer.statusCode < 200 || answer.statusCode > 299) return { waitingFor: "checks", what: `its registrations cannot be compared with the catalog (HTTP ${answer.statusCode}: ${String(answer.body).trim().slice(0, 200)})` };
    }
    const local = agentChecksOf(checksAnswer.body);
    const localServices = serviceIdsOf(servicesAnswer.body);
    const catalogServices = serviceIdsOf((catalogAnswer.body as Record<string, unknown> | null)?.["Services"] ?? {});
    if (local === undefined || localServices === undefined || catalogServices === undefined) return { waitingFor: "checks", what: "its registrations cannot be compared with the catalog (an answer is not a map)" };
    // Missing from the catalog: the servers deregistered the node when it left, possibly after the agent had
    // already synced on its way back; the agent puts them back at its next full sync (a minute or two).
    const missing = localServices.filter((id) => !catalogServices.includes(id));
    if (missing.length > 0) return { waitingFor: "registrations", what: `its service(s) ${missing.slice(0, 5).join(", ")} are not back in the catalog yet (anti-entropy)` };
    const absent = [...local.keys()].filter((id) => !catalogChecks.has(id));
    if (absent.length > 0) return { waitingFor: "registrations", what: `its check(s) ${absent.slice(0, 5).join(", ")} are not back in the catalog yet (anti-entropy)` };
    for (const [id, check] of local) {
      // A restored check starts critical with no output until it first runs; a TTL check is fed by its application.
      if (check.type !== "ttl" && check.status === "critical" && check.output === "") return { waitingFor: "checks", what: `its check ${id} has not run since the agent started` };
      const inCatalog = catalogChecks.get(id);
      if (inCatalog !== check.status) return { waitingFor: "checks", what: `its check ${id} reads ${inCatalog ?? "absent"} in the catalog, ${check.status} on the agent (anti-entropy pending)` };
    }
    return undefined;
  }
}
