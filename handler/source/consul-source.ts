// Reads the source of truth: Consul's health view of each configured service.
// Fail static: any answer that cannot be trusted (an error, no known leader,
// an ACL-filtered result, a malformed body) is an exception, never an empty
// list, so the caller leaves HAProxy as it is.
import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { ConsulConfig } from "../config/config.js";
import { parseHealthEntry, type ConsulHealthEntry } from "./health-entry.js";
import { consulGet, ConsulHttpError } from "./consul-http.js";

export type UntrustedReason = "unreachable" | "http-error" | "acl-denied" | "no-leader" | "acl-filtered" | "bad-answer" | "token" | "truncated" | "timeout";

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

/** Consul's answer cannot be trusted; the message says what the operator should check. */
export class ConsulUntrusted extends Error {
  constructor(
    readonly reason: UntrustedReason,
    message: string,
  ) {
    super(message);
    this.name = "ConsulUntrusted";
  }
}

export interface ServiceSnapshot {
  service: string;
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

/** Reads the ACL token: the token file wins over CONSUL_HTTP_TOKEN. Never logged. */
export function readToken(config: ConsulConfig, environment: NodeJS.ProcessEnv = process.env): string | undefined {
  if (config.tokenFile) {
    let token: string;
    try {
      token = readFileSync(config.tokenFile, "utf8").trim();
    } catch (error) {
      throw new ConsulUntrusted("token", `cannot read the Consul token file ${config.tokenFile} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check consul.tokenFile and the file's permissions`);
    }
    if (token === "") throw new ConsulUntrusted("token", `the Consul token file ${config.tokenFile} is empty`);
    return token;
  }
  const fromEnvironment = environment["CONSUL_HTTP_TOKEN"]?.trim();
  return fromEnvironment ? fromEnvironment : undefined;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class ConsulSource {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly token: string | undefined;

  constructor(private readonly config: ConsulConfig) {
    const url = new URL(config.address);
    const secure = url.protocol === "https:";
    this.agent = secure
      ? new HttpsAgent({ keepAlive: true, ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}) })
      : new HttpAgent({ keepAlive: true });
    this.base = url;
    this.token = readToken(config);
  }

  /**
   * One service's instances with their checks. Throws ConsulUntrusted when
   * the answer must not be acted on.
   */
  async readService(service: string, options: ReadOptions = {}): Promise<ServiceSnapshot> {
    const blocking = options.index !== undefined && options.index >= 1;
    const waitSeconds = Math.max(1, Math.round(options.waitSeconds ?? 0));
    const url = new URL(`/v1/health/service/${encodeURIComponent(service)}`, this.base);
    if (this.config.datacenter) url.searchParams.set("dc", this.config.datacenter);
    if (blocking) {
      url.searchParams.set("index", String(options.index));
      url.searchParams.set("wait", `${waitSeconds}s`);
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers["x-consul-token"] = this.token;

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
    if (response.statusCode < 200 || response.statusCode > 299) throw this.explainStatus(response.statusCode, String(response.body), service);
    const body = response.body;
    if (header(response.headers, "x-consul-knownleader") === "false") {
      throw new ConsulUntrusted("no-leader", `Consul has no known leader; not trusting its answer for ${service} (check 'consul operator raft list-peers')`);
    }
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
    return { service, entries, malformed, index: Number.isFinite(indexHeader) && indexHeader > 0 ? indexHeader : 0 };
  }

  /** Reads several services; one untrusted answer makes the whole read untrusted. */
  async readServices(services: readonly string[]): Promise<ServiceSnapshot[]> {
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
          "Give the token service:read and node:read (consul.tokenFile or CONSUL_HTTP_TOKEN), or set consul.aclCanaryService: \"\" if this cluster has no such service",
      );
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private explainStatus(status: number, text: string, service: string): ConsulUntrusted {
    const detail = text.trim().slice(0, 120);
    if (status === 403 || status === 401) {
      return new ConsulUntrusted("acl-denied", `Consul refused the read of ${service} (HTTP ${status}: ${detail}); check the ACL token (consul.tokenFile or CONSUL_HTTP_TOKEN)`);
    }
    return new ConsulUntrusted("http-error", `Consul answered HTTP ${status} for ${service}: ${detail}`);
  }

  private explain(error: unknown, service: string): ConsulUntrusted {
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
    return new ConsulUntrusted("unreachable", `cannot reach Consul at ${this.config.address} (${failure.message ?? String(error)}); is the agent running? check consul.address`);
  }
}
