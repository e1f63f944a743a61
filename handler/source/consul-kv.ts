// Requests to Consul's KV store, for every KV reader and writer of the
// handler (promoted versions, the load balancer's portmap). They go through
// the same client as the health reads (consul-http.ts): one connection
// setup, and an answer cut short, stalled or malformed fails at once with its
// cause. Every failure is a ConsulUntrusted whose message names the folder
// and what the token needs, so the caller can stay fail-static and say why.
import type { ConsulConfig } from "../config/config.js";
import { ConsulHttpError, type ConsulClient, type ConsulHttpAnswer, type ConsulMethod } from "./consul-http.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export type KvAccess = "read" | "write";

export interface KvRequest {
  /** The folder the key is in, ending in '/': named in errors and in the ACL advice. */
  folder: string;
  access: KvAccess;
  query?: Record<string, string>;
  body?: string;
  /** A blocking read's wait (sent as Consul's `wait`): the deadline grows by it and by Consul's jitter (wait/16). */
  blockingWaitMs?: number;
  /** Aborts the request (a blocking read when its loop stops). */
  signal?: AbortSignal;
  /** Appended to the ACL advice of a refused request, e.g. ' (or "write" to promote)'. */
  aclHint?: string;
}

export class ConsulKv {
  constructor(
    private readonly config: ConsulConfig,
    readonly client: ConsulClient,
  ) {}

  /**
   * One request for `key` (a full KV path, URL-safe as given). A 2xx answer,
   * or a read's 404 (no such key), is returned; a read Consul answers without
   * a known leader, and anything else, throws ConsulUntrusted.
   */
  async send(method: ConsulMethod, key: string, request: KvRequest): Promise<ConsulHttpAnswer> {
    const wait = request.blockingWaitMs;
    const query: Record<string, string> = { ...(this.config.datacenter ? { dc: this.config.datacenter } : {}), ...request.query, ...(wait !== undefined ? { wait: `${Math.ceil(wait / 1000)}s` } : {}) };
    const deadlineMs = this.config.timeoutMs + (wait !== undefined ? Math.ceil(wait / 1000) * 1000 * (1 + 1 / 16) : 0);
    let answer: ConsulHttpAnswer;
    try {
      answer = await this.client.request(method, `/v1/kv/${key}`, { query, deadlineMs, ...(request.body !== undefined ? { body: request.body } : {}), ...(request.signal ? { signal: request.signal } : {}) });
    } catch (error) {
      throw this.explain(error, request);
    }
    const ok = (answer.statusCode >= 200 && answer.statusCode <= 299) || (method === "GET" && answer.statusCode === 404);
    if (!ok) throw explainStatus(answer.statusCode, String(answer.body), request);
    if (method === "GET" && String(answer.headers["x-consul-knownleader"]) === "false") {
      throw new ConsulUntrusted("no-leader", `Consul answered the KV read under ${request.folder} without a known leader; keeping what was read before until the cluster elects one`);
    }
    // Newer Consuls say when a recursive read left keys out for the token (1.8 leaves them out silently).
    if (method === "GET" && String(answer.headers["x-consul-results-filtered-by-acls"]) === "true") {
      throw new ConsulUntrusted("acl-filtered", `Consul left keys under ${request.folder} out of its answer for the token's ACLs; give the token key_prefix "${request.folder}" policy = "read"`);
    }
    return answer;
  }

  private explain(error: unknown, { folder, access }: KvRequest): ConsulUntrusted {
    if (error instanceof ConsulHttpError) {
      switch (error.failure) {
        case "truncated":
          return new ConsulUntrusted("truncated", `Consul's answer to the KV ${access} under ${folder} was cut short (${error.message}). A proxy or the agent closed the connection mid-answer`);
        case "bad-answer":
          return new ConsulUntrusted("bad-answer", `Consul's answer to the KV ${access} under ${folder} cannot be read: ${error.message}`);
        case "timeout":
          return new ConsulUntrusted("timeout", `Consul did not answer the KV ${access} under ${folder} in time: ${error.message} (check the agent's load and consul.timeoutMs)`);
        case "unreachable":
          break;
      }
    }
    const failure = error as { message?: string };
    return new ConsulUntrusted("unreachable", `cannot reach Consul at ${this.client.connection.address.value} for the KV ${access} (${failure.message ?? String(error)}); check consul.address`);
  }
}

function explainStatus(status: number, text: string, { folder, access, aclHint }: KvRequest): ConsulUntrusted {
  const detail = text.trim().slice(0, 300);
  // Without a leader Consul holds a read (rpc_hold_timeout, 7 s), then answers 500 with this text.
  if (status === 500 && /^No cluster leader/.test(detail)) return new ConsulUntrusted("no-leader", `Consul has no cluster leader (the KV ${access} under ${folder} answered HTTP 500: ${detail}); keeping what was read before until the cluster elects one`);
  if (status === 403 || status === 401) {
    return new ConsulUntrusted("acl-denied", `Consul refused the KV ${access} under ${folder} (HTTP ${status}); give the token key_prefix "${folder}" policy = "${access}"${aclHint ?? ""}`);
  }
  return new ConsulUntrusted("http-error", `Consul answered HTTP ${status} for the KV ${access} of ${folder}: ${detail}`);
}
