// The operator's promoted version per service (`promote <service> <version>`),
// kept in Consul's KV store so a restarted handler (or another host's) finds
// it: key consul-haproxy-handler/<service>/promoted. The token needs
// key:read on that prefix to reconcile, and key:write to promote.
//
// KV goes through the same client as the health reads (consul-http.ts): one
// connection setup, and an answer cut short, stalled or malformed fails at
// once with its cause, never after a long wait.
import type { ConsulConfig } from "../config/config.js";
import { parseVersion } from "../planner/semver.js";
import { ConsulClient, ConsulHttpError, type ConsulHttpAnswer, type ConsulMethod } from "./consul-http.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export const PROMOTION_PREFIX = "consul-haproxy-handler";

export function promotionKey(service: string): string {
  return `${PROMOTION_PREFIX}/${service}/promoted`;
}

export interface PromotionRead {
  promoted: Map<string, string>;
  /** Values in KV that are not versions: ignored, and said so. */
  invalid: { service: string; value: string }[];
}

type Access = "read" | "write";

/**
 * The value of a KV entry from Consul's answer to GET /v1/kv/<key>: a list
 * of one entry whose Value is base64 (null: the key holds nothing).
 * undefined when the answer is not such a list.
 */
export function kvValue(body: unknown): string | null | undefined {
  if (!Array.isArray(body) || body.length === 0) return undefined;
  const entry: unknown = body[0];
  if (typeof entry !== "object" || entry === null) return undefined;
  const value = (entry as { Value?: unknown }).Value;
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") return undefined;
  return Buffer.from(value, "base64").toString("utf8");
}

export class PromotionStore {
  /** Over `client`, the connection setup shared with the health reads (its own when none is given). */
  constructor(
    private readonly config: ConsulConfig,
    private readonly client: ConsulClient = new ConsulClient(config),
  ) {}

  /** The promoted versions of these services. Throws ConsulUntrusted when KV cannot be read. */
  async read(services: readonly string[]): Promise<PromotionRead> {
    const result: PromotionRead = { promoted: new Map(), invalid: [] };
    await Promise.all(
      services.map(async (service) => {
        const answer = await this.send("GET", service, "read");
        // No key: nothing promoted.
        if (answer.statusCode === 404) return;
        const value = kvValue(answer.body);
        if (value === undefined) throw new ConsulUntrusted("bad-answer", `Consul's answer for the KV read of ${promotionKey(service)} is not a list of one entry`);
        const trimmed = value?.trim();
        if (trimmed === undefined || trimmed === "") return;
        if (parseVersion(trimmed)) result.promoted.set(service, trimmed);
        else result.invalid.push({ service, value: trimmed });
      }),
    );
    return result;
  }

  async write(service: string, version: string): Promise<void> {
    await this.send("PUT", service, "write", version);
  }

  async clear(service: string): Promise<void> {
    await this.send("DELETE", service, "write");
  }

  close(): void {
    this.client.close();
  }

  /** One KV request; a 2xx answer (or a read's 404) is returned, anything else throws ConsulUntrusted. */
  private async send(method: ConsulMethod, service: string, access: Access, body?: string): Promise<ConsulHttpAnswer> {
    const path = `/v1/kv/${PROMOTION_PREFIX}/${encodeURIComponent(service)}/promoted`;
    const query: Record<string, string> = this.config.datacenter ? { dc: this.config.datacenter } : {};
    let answer: ConsulHttpAnswer;
    try {
      answer = await this.client.request(method, path, { query, deadlineMs: this.config.timeoutMs, ...(body !== undefined ? { body } : {}) });
    } catch (error) {
      throw this.explain(error, access);
    }
    const ok = (answer.statusCode >= 200 && answer.statusCode <= 299) || (method === "GET" && answer.statusCode === 404);
    if (!ok) throw this.explainStatus(answer.statusCode, String(answer.body), access);
    return answer;
  }

  private explainStatus(status: number, text: string, access: Access): ConsulUntrusted {
    if (status === 403 || status === 401) {
      return new ConsulUntrusted("acl-denied", `Consul refused the KV ${access} under ${PROMOTION_PREFIX}/ (HTTP ${status}); give the token key_prefix "${PROMOTION_PREFIX}/" policy = "${access}"${access === "read" ? ' (or "write" to promote)' : ""}`);
    }
    return new ConsulUntrusted("http-error", `Consul answered HTTP ${status} for the KV ${access} of ${PROMOTION_PREFIX}/: ${text.trim().slice(0, 300)}`);
  }

  private explain(error: unknown, access: Access): ConsulUntrusted {
    if (error instanceof ConsulHttpError) {
      switch (error.failure) {
        case "truncated":
          return new ConsulUntrusted("truncated", `Consul's answer to the KV ${access} under ${PROMOTION_PREFIX}/ was cut short (${error.message}). A proxy or the agent closed the connection mid-answer`);
        case "bad-answer":
          return new ConsulUntrusted("bad-answer", `Consul's answer to the KV ${access} under ${PROMOTION_PREFIX}/ cannot be read: ${error.message}`);
        case "timeout":
          return new ConsulUntrusted("timeout", `Consul did not answer the KV ${access} under ${PROMOTION_PREFIX}/ in time: ${error.message} (check the agent's load and consul.timeoutMs)`);
        case "unreachable":
          break;
      }
    }
    const failure = error as { message?: string };
    return new ConsulUntrusted("unreachable", `cannot reach Consul at ${this.client.connection.address.value} for the KV ${access} (${failure.message ?? String(error)}); check consul.address`);
  }
}
