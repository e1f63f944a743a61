// The load balancer's portmap: every key under the tier's KV folder
// (`lb.kvPrefix`), read in one recursive request, then parsed and validated
// by the pure portmap module. Consul's answer is untrusted input: a key
// outside the folder, a value that is not base64 text or an entry of another
// shape fails the whole read (ConsulUntrusted), and the caller keeps what it
// had. A folder with no keys is an answer (no listeners), not an error: what
// to do when listeners would disappear at once is the caller's decision.
import { parsePortmapKv, PortmapError } from "../portmap/parse.js";
import type { LoadBalancerSpec, ReservedPorts } from "../portmap/spec.js";
import type { HandlerConfig } from "../config/config.js";
import type { ConsulKv } from "./consul-kv.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export interface PortmapKvRead {
  /** Consul's X-Consul-Index for the folder (0 when absent): the next blocking read waits on it. */
  index: number;
  /** Full key -> value (UTF-8; null: the key holds nothing), as parsePortmapKv takes them. */
  values: Map<string, string | null>;
}

export interface PortmapKvOptions {
  /** A blocking read: wait until the folder changes past this index (Consul's `index`), at most waitMs. */
  index?: number;
  waitMs?: number;
  signal?: AbortSignal;
}

/** Reads every key under `folder` (one request, `?recurse`). Throws ConsulUntrusted. */
export async function readPortmapKv(kv: ConsulKv, folder: string, options: PortmapKvOptions = {}): Promise<PortmapKvRead> {
  const blocking = options.index !== undefined && options.index > 0 && options.waitMs !== undefined;
  const answer = await kv.send("GET", folder.split("/").map(encodeURIComponent).join("/"), {
    folder,
    access: "read",
    query: { recurse: "true", ...(blocking ? { index: String(options.index) } : {}) },
    ...(blocking && options.waitMs !== undefined ? { blockingWaitMs: options.waitMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const indexHeader = Number(answer.headers["x-consul-index"]);
  const index = Number.isFinite(indexHeader) && indexHeader > 0 ? indexHeader : 0;
  // No key under the folder.
  if (answer.statusCode === 404) return { index, values: new Map() };
  return { index, values: kvEntries(answer.body, folder) };
}

/** Consul's list of KV entries as key -> value; throws ConsulUntrusted on any entry that is not one. */
export function kvEntries(body: unknown, folder: string): Map<string, string | null> {
  if (!Array.isArray(body)) throw new ConsulUntrusted("bad-answer", `Consul's answer to the KV read under ${folder} is not a list`);
  const values = new Map<string, string | null>();
  for (const entry of body as unknown[]) {
    if (typeof entry !== "object" || entry === null) throw new ConsulUntrusted("bad-answer", `Consul's answer to the KV read under ${folder} has an entry that is not an object`);
    const { Key: key, Value: value } = entry as { Key?: unknown; Value?: unknown };
    if (typeof key !== "string" || !key.startsWith(folder)) throw new ConsulUntrusted("bad-answer", `Consul's answer to the KV read under ${folder} has a key outside it: ${JSON.stringify(key)?.slice(0, 80)}`);
    if (value === null || value === undefined) {
      values.set(key, null);
      continue;
    }
    if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new ConsulUntrusted("bad-answer", `Consul's answer to the KV read under ${folder} has a value for ${key} that is not base64`);
    const bytes = Buffer.from(value, "base64");
    const text = bytes.toString("utf8");
    // A value that is not UTF-8 would be read with replacement characters: refuse it rather than guess.
    if (!Buffer.from(text, "utf8").equals(bytes)) throw new ConsulUntrusted("bad-answer", `the KV value of ${key} is not UTF-8 text; write the portmap keys as text`);
    values.set(key, text);
  }
  return values;
}

/** What the folder's keys say: a spec, or the first problem in them (the operator's to fix). */
export type PortmapVerdict = { ok: true; spec: LoadBalancerSpec } | { ok: false; error: PortmapError };

export function judgePortmap(values: ReadonlyMap<string, string | null>, folder: string, reservedPorts: ReservedPorts): PortmapVerdict {
  try {
    return { ok: true, spec: parsePortmapKv(values, { prefix: folder, reservedPorts }) };
  } catch (error) {
    if (error instanceof PortmapError) return { ok: false, error };
    throw error;
  }
}

/** The ports this handler's own config already takes: the admin socket when it is TCP, run.listen. */
export function reservedPortsOf(config: Pick<HandlerConfig, "haproxy" | "run">): ReservedPorts {
  const port = (address: string | undefined): number | undefined => {
    const match = address === undefined ? null : /:(\d{1,5})$/.exec(address);
    return match ? Number(match[1]) : undefined;
  };
  const admin = port(config.haproxy.socket.startsWith("/") ? undefined : config.haproxy.socket);
  const handler = port(config.run.listen);
  return { ...(admin !== undefined ? { admin } : {}), ...(handler !== undefined && handler !== 0 ? { handler } : {}) };
}
