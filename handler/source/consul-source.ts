// Reads the source of truth: Consul's health view of each configured service.
// Fail static: any answer that cannot be trusted (an error, no known leader,
// an ACL-filtered result, a malformed body) is an exception, never an empty
// list, so the caller leaves HAProxy as it is.
import type { Agent as HttpAgent, IncomingHttpHeaders } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import type { ConsulConfig } from "../config/config.js";
import { selectionKey, type ServiceSelection } from "../planner/selection.js";
import { parseHealthEntry, type ConsulHealthEntry } from "./health-entry.js";
import { ConsulClient, consulGet, ConsulHttpError } from "./consul-http.js";
import { AgentMembership, type MembershipCheck } from "./agent-membership.js";
import { describeOrigin, type ConsulConnection } from "./consul-connection.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export { ConsulUntrusted, type UntrustedReason } from "./consul-untrusted.js";

/**
 * How long a read may take before it is abandoned. A blocking query may
 * legitimately take `wait` plus Consul's jitter (up to wait/16); the margin
 * (consul.timeoutMs) covers the network and the server's own work. Anything
 * later is a stalled answer: abandoned and retried, never waited for.
 */
export function readDeadlineMs(timeoutMs: number, blockingWaitSeconds: number | undefined): number {
  if (blockingWaitSeconds === undefined) return timeoutMs;
  const waitMs = blockingWaitSeconds * 1000;
  return waitMs + waitMs / 16 + timeoutMs;
}

export interface ServiceSnapshot {
  service: string;
  /** selectionKey() of what was read; endpoints are matched to backends by it. */
  key: string;
  entries: ConsulHealthEntry[];
  /** Entries dropped because their JSON was malformed, with why. */
  malformed: string[];
  /** X-Consul-Index of the answer, for blocking queries. */
  index: number;
}

export interface ReadOptions {
  /** Blocking query: return when the index moves past this or `waitSeconds` expire. */
  index?: number;
  waitSeconds?: number;
  /** Aborts the request (a pending blocking query on shutdown or reload). */
  signal?: AbortSignal;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function noLeader(service: string): ConsulUntrusted {
  return new ConsulUntrusted("no-leader", `Consul has no known leader; not trusting its answer for ${service} (check 'consul operator raft list-peers')`);
}

export class ConsulSource {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly token: string | undefined;
  /** The resolved settings and where each came from (check-config shows them). */
  readonly connection: ConsulConnection;
  /** Whether the local agent is a live member of its cluster (see agent-membership.ts). */
  readonly membership: AgentMembership;

  /** Reads over `client`, the connection setup shared with the promotion store. */
  constructor(
    private readonly config: ConsulConfig,
    private readonly client: ConsulClient = new ConsulClient(config),
  ) {
    this.connection = client.connection;
    this.base = client.baseUrl;
    this.agent = client.agent;
    this.token = client.token;
    this.membership = new AgentMembership(async (path) => {
      const answer = await consulGet(new URL(path, this.base), { agent: this.agent, headers: this.headers(), deadlineMs: this.config.timeoutMs });
      // A leaderless cluster is that, whatever was asked: said as no-leader, as the health reads say it.
      if (answer.statusCode === 500 && /^No cluster leader/.test(String(answer.body).trim())) throw noLeader("the local agent's membership");
      return answer;
    });
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers["x-consul-token"] = this.token;
    return headers;
  }

  /** Whether the local agent is a live member (see agent-membership.ts); throws ConsulUntrusted when it cannot be asked. */
  async checkMembership(depth: "member" | "settled"): Promise<MembershipCheck> {
    try {
      return await this.membership.check(depth);
    } catch (error) {
      throw this.explain(error, "the local agent's membership");
    }
  }

  /** Throws ConsulUntrusted (agent-not-member) while the local agent is not a live member of its cluster. */
  async confirmMembership(): Promise<MembershipCheck> {
    const verdict = await this.checkMembership("member");
    if (verdict.kind === "not-member") throw new ConsulUntrusted("agent-not-member", verdict.problem);
    return verdict;
  }

  /**
   * One service's instances with their checks. Throws ConsulUntrusted when
   * the answer must not be acted on.
   */
  async readService(selection: string | ServiceSelection, options: ReadOptions = {}): Promise<ServiceSnapshot> {
    const selected: ServiceSelection = typeof selection === "string" ? { name: selection } : selection;
    const service = selected.name;
    const blocking = options.index !== undefined && options.index >= 1;
    const waitSeconds = Math.max(1, Math.round(options.waitSeconds ?? 0));
    const url = new URL(`/v1/health/service/${encodeURIComponent(service)}`, this.base);
    if (this.config.datacenter) url.searchParams.set("dc", this.config.datacenter);
    if (selected.tag !== undefined) url.searchParams.set("tag", selected.tag);
    if (selected.filter !== undefined) url.searchParams.set("filter", selected.filter);
    if (blocking) {
      url.searchParams.set("index", String(options.index));
      url.searchParams.set("wait", `${waitSeconds}s`);
    }
    const headers = this.headers();

    let response: { statusCode: number; headers: IncomingHttpHeaders; body: unknown };
    try {
      response = await consulGet(url, {
        agent: this.agent,
        headers,
        deadlineMs: readDeadlineMs(this.config.timeoutMs, blocking ? waitSeconds : undefined),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw this.explain(error, service);
    }
    if (response.statusCode < 200 || response.statusCode > 299) throw this.explainStatus(response.statusCode, String(response.body), service, selected);
    const body = response.body;
    if (header(response.headers, "x-consul-knownleader") === "false") throw noLeader(service);
    if (header(response.headers, "x-consul-results-filtered-by-acls") === "true") {
      throw new ConsulUntrusted("acl-filtered", `Consul filtered the answer for ${service} by ACLs: the token lacks service:read or node:read; give it read on services and nodes`);
    }
    if (!Array.isArray(body)) {
      throw new ConsulUntrusted("bad-answer", `Consul's answer for service ${service} is not a list`);
    }
    const indexHeader = Number(header(response.headers, "x-consul-index"));
    const entries: ConsulHealthEntry[] = [];
    const malformed: string[] = [];
    for (const raw of body) {
      const parsed = parseHealthEntry(raw);
      if (parsed.ok) entries.push(parsed.entry);
      else malformed.push(parsed.reason);
    }
    return { service, key: selectionKey(selected), entries, malformed, index: Number.isFinite(indexHeader) && indexHeader > 0 ? indexHeader : 0 };
  }

  /**
   * Reads several services; one untrusted answer makes the whole read
   * untrusted, and so does a local agent that is not a live member (asked
   * first, so that the answers are read after it was seen alive).
   */
  async readServices(services: readonly (string | ServiceSelection)[]): Promise<ServiceSnapshot[]> {
    await this.confirmMembership();
    const snapshots = await Promise.all(services.map((service) => this.readService(service)));
    if (snapshots.some((snapshot) => snapshot.entries.length === 0)) await this.confirmEmptyAnswer();
    return snapshots;
  }

  /**
   * Consul 1.8 filters ACL-denied results silently (no
   * X-Consul-Results-Filtered-By-ACLs header before 1.11): a missing or weak
   * token reads as "no instances". Before an empty answer is believed, the
   * canary service (Consul's own `consul` service, present on every cluster)
   * must be visible with the same token.
   */
  async confirmEmptyAnswer(): Promise<void> {
    const canary = this.config.aclCanaryService;
    if (canary === "") return;
    const snapshot = await this.readService(canary);
    if (snapshot.entries.length === 0) {
      throw new ConsulUntrusted(
        "acl-filtered",
        `Consul returned no instances, and the token cannot see the '${canary}' service either: the answer is probably ACL-filtered. ` +
          "Give the token service:read and node:read (consul.tokenFile, CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN), or set consul.aclCanaryService: \"\" if this cluster has no such service",
      );
    }
  }

  close(): void {
    this.client.close();
  }

  private explainStatus(status: number, text: string, service: string, selection: ServiceSelection): ConsulUntrusted {
    // Consul's reason (a bad filter, say) is in the body.
    const detail = text.trim().slice(0, 300);
    // Without a leader Consul holds the read (rpc_hold_timeout, 7 s), then
    // answers 500 with this text. Its X-Consul-KnownLeader is false on every
    // error answer, so only the text says it.
    if (status === 500 && /^No cluster leader/.test(detail)) return noLeader(service);
    if (status === 403 || status === 401) {
      return new ConsulUntrusted("acl-denied", `Consul refused the read of ${service} (HTTP ${status}: ${detail}); check the ACL token (consul.tokenFile, CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN)`);
    }
    const narrowed = selection.filter !== undefined || selection.tag !== undefined;
    return new ConsulUntrusted("http-error", `Consul answered HTTP ${status} for ${service}: ${detail}${narrowed ? " (check this service's filter and tag in the config)" : ""}`);
  }

  private explain(error: unknown, service: string): ConsulUntrusted {
    if (error instanceof ConsulUntrusted) return error;
    if (error instanceof ConsulHttpError) {
      switch (error.failure) {
        case "truncated":
          return new ConsulUntrusted("truncated", `Consul's answer for ${service} was cut short (${error.message}); retrying. A proxy or the agent closed the connection mid-answer`);
        case "bad-answer":
          return new ConsulUntrusted("bad-answer", `Consul's answer for ${service} cannot be read: ${error.message}`);
        case "timeout":
          return new ConsulUntrusted("timeout", `Consul did not answer the read of ${service} in time: ${error.message}; retrying (check the agent's load and consul.timeoutMs)`);
        case "unreachable":
          break;
      }
    }
    const failure = error as { message?: string };
    return new ConsulUntrusted(
      "unreachable",
      `cannot reach Consul at ${this.connection.address.value} (${failure.message ?? String(error)}); is the agent running? check consul.address or CONSUL_HTTP_ADDR (this one came from ${describeOrigin(this.connection.address.origin)}), and the TLS settings for an https address`,
    );
  }
}
