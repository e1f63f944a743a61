// HTTP-01 challenge responses in Consul KV (issue 18): the ChallengeStore an
// order publishes to, and the ChallengeAnswers the port-80 responder reads.
// Several load balancers share a tier and the CA may reach any of them, so
// the one that orders writes the key authorization where every one of them
// can read it: consul-haproxy-handler/acme/<tier>/challenges/<token>.
//
// The requests go through the handler's one Consul client (address, TLS,
// token: consul-http.ts) and its KV requests (consul-kv.ts). Neither the
// token nor the key authorization appears in an error: Consul's own text is
// passed through the certificate module's redact().
import { isChallengeToken, type ChallengeAnswers, type ChallengeStore } from "../certificates/challenge.js";
import { redact } from "../certificates/redact.js";
import type { ConsulMethod, ConsulHttpAnswer } from "./consul-http.js";
import type { ConsulKv, KvAccess } from "./consul-kv.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export const ACME_KV_PREFIX = "consul-haproxy-handler/acme/";

/** A tier's name as it may appear in a KV path: one segment. */
const TIER = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** RFC 8555 8.1: `<token>.<base64url(JWK thumbprint)>`; anything else in KV was not written by an order. */
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{1,256}\.[A-Za-z0-9_-]{1,128}$/;

/** The folder of a tier's challenge responses, ending in '/'. Throws for a tier that is not one path segment. */
export function challengeFolder(tier: string): string {
  if (!TIER.test(tier)) throw new Error(`the tier name ${JSON.stringify(tier.slice(0, 64))} cannot name a KV folder: use letters, digits, '_' and '-' (e.g. the last segment of lb.kvPrefix, "default")`);
  return `${ACME_KV_PREFIX}${tier}/challenges/`;
}

/**
 * The challenge folder of the tier whose portmap is under `kvPrefix`: its last
 * segment names the tier (`consul-haproxy-handler/lb/default/` -> `default`),
 * so load balancers that share a portmap share their challenges too.
 */
export function challengeFolderOfPortmap(kvPrefix: string): string {
  const segments = kvPrefix.split("/").filter((segment) => segment !== "");
  const last = segments[segments.length - 1] ?? "default";
  // A KV folder may hold '.', a tier name may not; and the name is bounded.
  return challengeFolder(last.replace(/[^A-Za-z0-9_-]/g, "_").replace(/^[_-]+/, "").slice(0, 63) || "default");
}

export interface KvChallengeOptions {
  /**
   * How long a response read is kept in this process, in ms (default 5000):
   * a CA validates from several vantage points within seconds. Only found
   * responses are kept; a token not (yet) in KV is asked again each time.
   */
  cacheMs?: number;
  /** At most this many responses are kept (default 256); the oldest go first. */
  cacheSize?: number;
  now?: () => number;
}

export class KvChallengeStore implements ChallengeStore, ChallengeAnswers {
  private readonly cacheMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { keyAuthorization: string; until: number }>();
  /** One read per token at a time: the CA's vantage points ask together. */
  private readonly reading = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly kv: ConsulKv,
    /** challengeFolder(tier): the folder, ending in '/'. */
    readonly folder: string,
    options: KvChallengeOptions = {},
  ) {
    if (!folder.endsWith("/")) throw new Error(`the challenge folder ${JSON.stringify(folder)} must end in '/': use challengeFolder(tier)`);
    this.cacheMs = options.cacheMs ?? 5000;
    this.cacheSize = options.cacheSize ?? 256;
    this.now = options.now ?? Date.now;
  }

  /** Publishes a response for every load balancer of the tier. Throws ConsulUntrusted (the token needs key_prefix write on the folder). */
  async put(token: string, keyAuthorization: string): Promise<void> {
    checkToken(token);
    // The order's value, checked so that get() never refuses what put() wrote.
    if (!KEY_AUTHORIZATION.test(keyAuthorization) || !keyAuthorization.startsWith(`${token}.`)) {
      throw new Error("refusing to publish an ACME key authorization that is not <token>.<thumbprint> in base64url: the CA answered out of RFC 8555; check acme_directory");
    }
    await this.send("PUT", token, "write", [token, keyAuthorization], keyAuthorization);
    this.forget(token);
  }

  /** Takes a response away once the CA has validated it (or the order failed). Removing a missing one is no error. */
  async remove(token: string): Promise<void> {
    checkToken(token);
    this.forget(token);
    await this.send("DELETE", token, "write", [token]);
  }

  /**
   * The key authorization for a token (answerChallenge has checked its form;
   * it is checked again here), or undefined when KV holds none (answer 404).
   * Throws ConsulUntrusted when Consul cannot be read (answer 503: the CA retries).
   */
  async get(token: string): Promise<string | undefined> {
    if (!isChallengeToken(token)) return undefined;
    const cached = this.cache.get(token);
    if (cached !== undefined && cached.until > this.now()) return cached.keyAuthorization;
    this.cache.delete(token);
    const pending = this.reading.get(token);
    if (pending !== undefined) return pending;
    const read = this.read(token).finally(() => this.reading.delete(token));
    this.reading.set(token, read);
    return read;
  }

  private async read(token: string): Promise<string | undefined> {
    const answer = await this.send("GET", token, "read", [token]);
    if (answer.statusCode === 404) return undefined;
    const keyAuthorization = this.valueOf(answer.body, token);
    if (keyAuthorization === undefined) return undefined;
    if (this.cacheMs > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value ?? "");
      this.cache.set(token, { keyAuthorization, until: this.now() + this.cacheMs });
    }
    return keyAuthorization;
  }

  /** Consul's answer for one key: a list of one entry for exactly this key, its value a key authorization for this token. */
  private valueOf(body: unknown, token: string): string | undefined {
    const bad = (what: string): never => {
      throw new ConsulUntrusted("bad-answer", `Consul's answer to the KV read of an ACME challenge under ${this.folder} ${what}; the response is not served (delete the key if it was not written by the handler)`);
    };
    if (!Array.isArray(body) || body.length !== 1) return bad("is not a list of one entry");
    const entry: unknown = body[0];
    if (typeof entry !== "object" || entry === null) return bad("is not a KV entry");
    const { Key: key, Value: value } = entry as { Key?: unknown; Value?: unknown };
    if (key !== `${this.folder}${token}`) return bad("is for another key");
    // The key is there without a value: nothing to serve.
    if (value === null || value === undefined) return undefined;
    if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return bad("has a value that is not base64");
    const text = Buffer.from(value, "base64").toString("utf8");
    if (!KEY_AUTHORIZATION.test(text) || !text.startsWith(`${token}.`)) return bad("has a value that is not a key authorization for its token");
    return text;
  }

  private forget(token: string): void {
    this.cache.delete(token);
  }

  /** One KV request for the token's key; a failure's message is redacted of the token and the key authorization. */
  private async send(method: ConsulMethod, token: string, access: KvAccess, secrets: string[], body?: string): Promise<ConsulHttpAnswer> {
    const doing = method === "GET" ? "reading" : method === "PUT" ? "publishing" : "removing";
    try {
      return await this.kv.send(method, `${this.folder}${token}`, { folder: this.folder, access, ...(body !== undefined ? { body } : {}) });
    } catch (error) {
      const reason = error instanceof ConsulUntrusted ? error.reason : "unreachable";
      throw new ConsulUntrusted(reason, redact(`${doing} an ACME challenge response: ${(error as Error).message}`, secrets));
    }
  }
}

function checkToken(token: string): void {
  if (!isChallengeToken(token)) throw new Error("refusing an ACME challenge whose token is not base64url: the CA answered out of RFC 8555; check acme_directory");
}
