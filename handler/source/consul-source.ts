// Reads the source of truth: Consul's health view of each configured service.
// Fail static: any answer that cannot be trusted (an error, no known leader,
// an ACL-filtered result, a malformed body) is an exception, never an empty
// list, so the caller leaves HAProxy as it is.
import { EventEmitter } from "node:events";
import { createConnection } from "node:net";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import Consul from "consul";
import type { ConsulConfig } from "../config/config.js";
import { parseHealthEntry, type ConsulHealthEntry } from "./health-entry.js";
import { readConsulToken, resolveConsulConnection, tlsOptions, describeOrigin, type ConsulConnection } from "./consul-connection.js";

export type UntrustedReason = "unreachable" | "http-error" | "acl-denied" | "no-leader" | "acl-filtered" | "bad-answer" | "token";

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

/**
 * Which instances of a Consul service to read: all of them, or those with a
 * tag (Consul's `?tag=`) and/or matching a filter expression (`?filter=`,
 * Consul >= 1.5).
 */
export interface ServiceSelection {
  name: string;
  tag?: string;
  filter?: string;
}

/** One string per distinct selection: the service name alone when nothing narrows it. */
export function selectionKey(selection: ServiceSelection): string {
  const parts: string[] = [];
  if (selection.tag !== undefined) parts.push(`tag=${selection.tag}`);
  if (selection.filter !== undefined) parts.push(`filter=${selection.filter}`);
  return parts.length === 0 ? selection.name : `${selection.name}?${parts.join("&")}`;
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

interface ResponseLike {
  statusCode?: number;
  headers: IncomingHttpHeaders;
  body?: unknown;
}

/** The consul client's options, including the ones its type declarations omit. */
interface HealthServiceRequest {
  service: string;
  tag?: string;
  filter?: string;
  token?: string;
  dc?: string;
  index?: string;
  wait?: string;
  timeout: number;
  /** papi only honours a ctx that is an EventEmitter; emitting "cancel" aborts the request. */
  ctx: EventEmitter & { includeResponse: true };
}

interface HealthServiceCall {
  service(options: HealthServiceRequest): Promise<unknown>;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** An http.Agent whose every connection goes to a unix socket (CONSUL_HTTP_ADDR=unix:///path). */
function unixSocketAgent(path: string): HttpAgent {
  const agent = new HttpAgent({ keepAlive: true });
  (agent as unknown as { createConnection: () => ReturnType<typeof createConnection> }).createConnection = () => createConnection(path);
  return agent;
}

export class ConsulSource {
  private readonly client: Consul;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly token: string | undefined;
  /** The resolved settings and where each came from (check-config shows them). */
  readonly connection: ConsulConnection;

  /** Throws ConfigError for unusable CONSUL_* variables, Error for unreadable token or TLS files. */
  constructor(
    private readonly config: ConsulConfig,
    environment: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.connection = resolveConsulConnection(config, environment);
    const address = this.connection.address.value;
    if (address.startsWith("unix://")) {
      this.agent = unixSocketAgent(address.slice("unix://".length));
      this.client = new Consul({ baseUrl: "http://localhost/v1", agent: this.agent } as ConstructorParameters<typeof Consul>[0]);
    } else {
      const url = new URL(address);
      const secure = url.protocol === "https:";
      this.agent = secure ? new HttpsAgent({ keepAlive: true, ...tlsOptions(this.connection) }) : new HttpAgent({ keepAlive: true });
      this.client = new Consul({
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || (secure ? 443 : 80)),
        secure,
        agent: this.agent,
      });
    }
    try {
      this.token = readConsulToken(this.connection);
    } catch (error) {
      throw new ConsulUntrusted("token", (error as Error).message);
    }
  }

  /**
   * One service's instances with their checks. Throws ConsulUntrusted when
   * the answer must not be acted on.
   */
  async readService(selection: string | ServiceSelection, options: ReadOptions = {}): Promise<ServiceSnapshot> {
    const selected: ServiceSelection = typeof selection === "string" ? { name: selection } : selection;
    const service = selected.name;
    const waitSeconds = options.waitSeconds ?? 0;
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true as const });
    const request: HealthServiceRequest = {
      service,
      // A blocking query may legitimately take `wait` plus Consul's jitter (wait/16).
      timeout: this.config.timeoutMs + (options.index !== undefined ? waitSeconds * 1000 * 1.1 : 0),
      ctx,
    };
    const cancel = () => ctx.emit("cancel");
    options.signal?.addEventListener("abort", cancel, { once: true });
    if (selected.tag !== undefined) request.tag = selected.tag;
    if (selected.filter !== undefined) request.filter = selected.filter;
    if (this.token) request.token = this.token;
    if (this.config.datacenter) request.dc = this.config.datacenter;
    if (options.index !== undefined && options.index >= 1) {
      request.index = String(options.index);
      request.wait = `${Math.max(1, Math.round(waitSeconds))}s`;
    }

    let answer: unknown;
    try {
      answer = await (this.client.health as unknown as HealthServiceCall).service(request);
    } catch (error) {
      throw this.explain(error, service, selected);
    } finally {
      options.signal?.removeEventListener("abort", cancel);
    }
    if (!Array.isArray(answer) || answer.length !== 2) {
      throw new ConsulUntrusted("bad-answer", `Consul's answer for service ${service} has an unexpected form`);
    }
    const [response, body] = answer as [ResponseLike, unknown];
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
    return { service, key: selectionKey(selected), entries, malformed, index: Number.isFinite(indexHeader) && indexHeader > 0 ? indexHeader : 0 };
  }

  /** Reads several services; one untrusted answer makes the whole read untrusted. */
  async readServices(services: readonly (string | ServiceSelection)[]): Promise<ServiceSnapshot[]> {
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
    this.agent.destroy();
  }

  private explain(error: unknown, service: string, selection?: ServiceSelection): ConsulUntrusted {
    const failure = error as { message?: string; code?: string; statusCode?: number; response?: ResponseLike };
    const status = failure.statusCode ?? failure.response?.statusCode;
    if (status === 403 || status === 401) {
      return new ConsulUntrusted("acl-denied", `Consul refused the read of ${service} (HTTP ${status}: ${failure.message ?? ""}); check the ACL token (consul.tokenFile, CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN)`);
    }
    if (status !== undefined) {
      // papi keeps only short bodies in the message; Consul's reason (a bad filter, say) is in the body.
      const body = failure.response?.body;
      const said = (Buffer.isBuffer(body) ? body.toString("utf8") : typeof body === "string" ? body : "").trim().slice(0, 300);
      const detail = said !== "" && said !== failure.message ? said : (failure.message ?? "");
      return new ConsulUntrusted("http-error", `Consul answered HTTP ${status} for ${service}: ${detail}${selection?.filter !== undefined || selection?.tag !== undefined ? " (check this service's filter and tag in the config)" : ""}`);
    }
    return new ConsulUntrusted("unreachable", `cannot reach Consul at ${this.connection.address.value} (${failure.code ?? failure.message ?? String(error)}); is the agent running? check consul.address or CONSUL_HTTP_ADDR (this one came from ${describeOrigin(this.connection.address.origin)}), and the TLS settings for an https address`);
  }
}
