// The operator's promoted version per service (`promote <service> <version>`),
// kept in Consul's KV store so a restarted handler (or another host's) finds
// it: key consul-haproxy-handler/<service>/promoted. The token needs
// key:read on that prefix to reconcile, and key:write to promote.
import type { Agent as HttpAgent } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import Consul from "consul";
import type { ConsulConfig } from "../config/config.js";
import { parseVersion } from "../planner/semver.js";
import { ConsulUntrusted, openConsul } from "./consul-source.js";
import type { ConsulConnection } from "./consul-connection.js";

export const PROMOTION_PREFIX = "consul-haproxy-handler";

export function promotionKey(service: string): string {
  return `${PROMOTION_PREFIX}/${service}/promoted`;
}

interface KvRequest {
  key: string;
  token?: string;
  dc?: string;
  timeout: number;
}

/** The parts of the consul client's kv this module uses (its typings are loose). */
interface KvCalls {
  get(options: KvRequest): Promise<{ Value?: string | null } | undefined>;
  set(options: KvRequest & { value: string }): Promise<boolean>;
  del(options: KvRequest): Promise<unknown>;
}

export interface PromotionRead {
  promoted: Map<string, string>;
  /** Values in KV that are not versions: ignored, and said so. */
  invalid: { service: string; value: string }[];
}

export class PromotionStore {
  private readonly kv: KvCalls;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly token: string | undefined;
  private readonly connection: ConsulConnection;

  /** The same address, token and TLS settings as the health reads (config, then CONSUL_* variables). */
  constructor(
    private readonly config: ConsulConfig,
    environment: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    const opened = openConsul(config, environment);
    this.connection = opened.connection;
    this.agent = opened.transport.agent;
    this.token = opened.token;
    const client = new Consul({ baseUrl: new URL("/v1", opened.transport.baseUrl).toString(), agent: this.agent } as ConstructorParameters<typeof Consul>[0]);
    this.kv = client.kv as unknown as KvCalls;
  }

  private request(service: string): KvRequest {
    const request: KvRequest = { key: promotionKey(service), timeout: this.config.timeoutMs };
    if (this.token) request.token = this.token;
    if (this.config.datacenter) request.dc = this.config.datacenter;
    return request;
  }

  /** The promoted versions of these services. Throws ConsulUntrusted when KV cannot be read. */
  async read(services: readonly string[]): Promise<PromotionRead> {
    const result: PromotionRead = { promoted: new Map(), invalid: [] };
    await Promise.all(
      services.map(async (service) => {
        let entry: { Value?: string | null } | undefined;
        try {
          entry = await this.kv.get(this.request(service));
        } catch (error) {
          throw this.explain(error, "read");
        }
        const value = entry?.Value?.trim();
        if (value === undefined || value === "") return;
        if (parseVersion(value)) result.promoted.set(service, value);
        else result.invalid.push({ service, value });
      }),
    );
    return result;
  }

  async write(service: string, version: string): Promise<void> {
    try {
      await this.kv.set({ ...this.request(service), value: version });
    } catch (error) {
      throw this.explain(error, "write");
    }
  }

  async clear(service: string): Promise<void> {
    try {
      await this.kv.del(this.request(service));
    } catch (error) {
      throw this.explain(error, "write");
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private explain(error: unknown, access: "read" | "write"): ConsulUntrusted {
    const failure = error as { message?: string; code?: string; statusCode?: number };
    if (failure.statusCode === 403 || failure.statusCode === 401) {
      return new ConsulUntrusted("acl-denied", `Consul refused the KV ${access} under ${PROMOTION_PREFIX}/ (HTTP ${failure.statusCode}); give the token key_prefix "${PROMOTION_PREFIX}/" policy = "${access}"${access === "read" ? ' (or "write" to promote)' : ""}`);
    }
    if (failure.statusCode !== undefined) return new ConsulUntrusted("http-error", `Consul answered HTTP ${failure.statusCode} for the KV ${access} of ${PROMOTION_PREFIX}/: ${failure.message ?? ""}`);
    return new ConsulUntrusted("unreachable", `cannot reach Consul at ${this.connection.address.value} for the KV ${access} (${failure.code ?? failure.message ?? String(error)}); check consul.address`);
  }
}
