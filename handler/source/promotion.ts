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
import { ConsulClient, type ConsulHttpAnswer, type ConsulMethod } from "./consul-http.js";
import { ConsulKv, type KvAccess } from "./consul-kv.js";
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
  private readonly kv: ConsulKv;

  /** Over `client`, the connection setup shared with the health reads (its own when none is given). */
  constructor(config: ConsulConfig, client: ConsulClient = new ConsulClient(config)) {
    this.kv = new ConsulKv(config, client);
  }

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
    this.kv.client.close();
  }

  /** One KV request for the service's key; see ConsulKv.send. */
  private send(method: ConsulMethod, service: string, access: KvAccess, body?: string): Promise<ConsulHttpAnswer> {
    return this.kv.send(method, `${PROMOTION_PREFIX}/${encodeURIComponent(service)}/promoted`, { folder: `${PROMOTION_PREFIX}/`, access, ...(body !== undefined ? { body } : {}), ...(access === "read" ? { aclHint: ' (or "write" to promote)' } : {}) });
  }
}
