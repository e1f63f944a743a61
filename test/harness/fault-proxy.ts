// A fault-injecting HTTP proxy in front of a real Consul agent. Tests point
// the handler's consul.address at it and switch the fault at run time:
//   pass       forward to Consul, answer as Consul did
//   500        HTTP 500 with a text body
//   429        HTTP 429, as Consul answers a client over its
//              limits.http_max_conns_per_client
//   garbage    HTTP 200, application/json, a body that is not JSON
//   truncated  Consul's real answer, with a Content-Length larger than the
//              body, then the connection is closed mid-answer
//   stall      read the request, never answer (the socket stays open)
//   empty      HTTP 200 `[]` for the health of any service but `consul`
//              (so the ACL canary still sees Consul's own service), with
//              Consul's real headers (known leader) and a newer index
// With onlyService set, only that service's health reads get the fault.
// With reads set to "promotions", the KV reads of the promoted versions
// (/v1/kv/consul-haproxy-handler/...) get it instead of the health reads.
// The mode is read when a request arrives; requests in flight finish in
// the mode they started with. Stalled requests are released by `close()`.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Which reads get the fault: Consul's health view, or the promoted versions in KV. */
export type FaultedReads = "health" | "promotions";

export type FaultMode = "pass" | "500" | "429" | "garbage" | "truncated" | "stall" | "empty";

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`, for consul.address. */
  address: string;
  mode: FaultMode;
  /** Set: the fault hits only the health reads of this service; the others pass. */
  onlyService: string | undefined;
  /** The reads that get the fault (health by default); the others pass. */
  reads: FaultedReads;
  /** Requests seen per mode (faulted reads only), to wait until a fault was actually served. */
  served(mode: FaultMode): number;
  /** Blocking reads (`?index=`) open right now, per path: one per watch the handler runs. */
  blockingOpen(): Map<string, number>;
  close(): Promise<void>;
}

interface Upstream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function forward(target: URL, request: IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const headers = { ...request.headers, host: target.host };
    const upstream = httpRequest(new URL(request.url ?? "/", target), { method: request.method ?? "GET", headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    upstream.on("error", reject);
    upstream.end(body);
  });
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Consul's headers worth keeping (index, leader); hop-by-hop and length headers are rewritten. */
function consulHeaders(upstream: Upstream): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || ["content-length", "connection", "transfer-encoding", "keep-alive"].includes(name)) continue;
    kept[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return kept;
}

export async function startFaultProxy(consulAddress: string): Promise<FaultProxy> {
  const target = new URL(consulAddress);
  const counts = new Map<FaultMode, number>();
  const sockets = new Set<Socket>();
  let mode: FaultMode = "pass";
  let onlyService: string | undefined;
  let reads: FaultedReads = "health";

  const blocking = new Map<string, number>();
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://proxy");
    const path = url.pathname;
    if (url.searchParams.has("index")) {
      blocking.set(path, (blocking.get(path) ?? 0) + 1);
      // "close": answered, or given up by the client (an aborted watch).
      response.once("close", () => blocking.set(path, (blocking.get(path) ?? 1) - 1));
    }
    const health = path.startsWith("/v1/health/service/") && (onlyService === undefined || path === `/v1/health/service/${encodeURIComponent(onlyService)}`);
    // A client may send the key's slashes encoded (%2F).
    const promotion = request.method === "GET" && decodeURIComponent(path).startsWith("/v1/kv/consul-haproxy-handler/");
    const faulted = reads === "health" ? health : promotion;
    const current = faulted ? mode : "pass";
    if (faulted) counts.set(current, (counts.get(current) ?? 0) + 1);
    const body = await readBody(request);
    if (!faulted || current === "pass") {
      const upstream = await forward(target, request, body);
      response.writeHead(upstream.status, { ...consulHeaders(upstream), "content-length": String(upstream.body.length) });
      response.end(upstream.body);
      return;
    }
    switch (current) {
      case "500":
        response.writeHead(500, { "content-type": "text/plain" });
        response.end("rpc error: injected by the fault proxy");
        return;
      case "429":
        response.writeHead(429, { "content-type": "text/plain" });
        response.end("Your IP is issuing too many concurrent connections, please rate limit your calls\n");
        return;
      case "garbage":
        response.writeHead(200, { "content-type": "application/json", "x-consul-index": "999999", "x-consul-knownleader": "true" });
        response.end('[{"Node": {"Node": "x", "Address": "10.0.0.1"}, "Service": {"ID": "garbage" <html>');
        return;
      case "stall":
        // Never answer; the socket is closed by close() or by the client giving up.
        return;
      case "truncated": {
        const upstream = await forward(target, request, body);
        const half = upstream.body.subarray(0, Math.max(1, Math.floor(upstream.body.length / 2)));
        response.writeHead(upstream.status, { ...consulHeaders(upstream), "content-length": String(upstream.body.length + 100) });
        response.write(half, () => {
          // Give the bytes a moment on the wire, then cut the connection.
          setTimeout(() => response.socket?.destroy(), 20);
        });
        return;
      }
      case "empty": {
        const upstream = await forward(target, request, body);
        if ((request.url ?? "").startsWith("/v1/health/service/consul")) {
          response.writeHead(upstream.status, { ...consulHeaders(upstream), "content-length": String(upstream.body.length) });
          response.end(upstream.body);
          return;
        }
        const empty = Buffer.from("[]");
        // A new index, as a catalog that changed would have: the handler acts on changes only.
        const index = Number(upstream.headers["x-consul-index"] ?? 0) + 1000;
        response.writeHead(200, { ...consulHeaders(upstream), "x-consul-index": String(index), "content-length": String(empty.length) });
        response.end(empty);
        return;
      }
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      // Consul itself is down: answer like a proxy would.
      if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
      response.end("bad gateway");
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    set mode(next: FaultMode) {
      mode = next;
    },
    get onlyService() {
      return onlyService;
    },
    set onlyService(name: string | undefined) {
      onlyService = name;
    },
    get reads() {
      return reads;
    },
    set reads(which: FaultedReads) {
      reads = which;
    },
    served: (which) => counts.get(which) ?? 0,
    blockingOpen: () => new Map([...blocking].filter(([, open]) => open > 0)),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
