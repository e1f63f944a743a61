// The optional HTTP listener of `run` (loopback by default):
//   GET  /healthz  200 when the last reconcile succeeded and Consul is trusted, else 503 with why
//   GET  /metrics  Prometheus text
//   POST /watch    for a Consul watch with handler_type http: the body is only a trigger
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface ListenerHandlers {
  metrics(): string | Promise<string>;
  health(): { healthy: boolean; reason: string };
  trigger(): void;
}

export interface HttpListener {
  /** `host:port` actually bound (port 0 in the config asks the OS for one). */
  address: string;
  close(): Promise<void>;
}

/** Watch payloads are small; refuse anything that is not. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

function reply(response: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  response.writeHead(status, { "content-type": type });
  response.end(body);
}

function handle(handlers: ListenerHandlers, request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? "/").split("?")[0];
  if (request.method === "GET" && path === "/metrics") {
    Promise.resolve()
      .then(() => handlers.metrics())
      .then(
        (text) => reply(response, 200, text, "text/plain; version=0.0.4; charset=utf-8"),
        (error: unknown) => reply(response, 500, `metrics failed: ${(error as Error).message}\n`),
      );
    return;
  }
  if (request.method === "GET" && path === "/healthz") {
    const health = handlers.health();
    reply(response, health.healthy ? 200 : 503, `${health.reason}\n`);
    return;
  }
  if (request.method === "POST" && path === "/watch") {
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reply(response, 413, "payload too large\n");
        request.destroy();
      }
    });
    request.on("end", () => {
      // The payload says "something changed"; the controller reads Consul itself.
      handlers.trigger();
      reply(response, 202, "reconcile queued\n");
    });
    return;
  }
  reply(response, 404, "not found: use GET /healthz, GET /metrics or POST /watch\n");
}

export function startHttpListener(address: string, handlers: ListenerHandlers): Promise<HttpListener> {
  const separator = address.lastIndexOf(":");
  const host = address.slice(0, separator).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(separator + 1));
  const server = createServer((request, response) => handle(handlers, request, response));
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${address} (${error.code ?? error.message}); change run.listen`)));
    server.listen(port, host, () => {
      const bound = server.address();
      const boundPort = typeof bound === "object" && bound ? bound.port : port;
      resolve({
        address: `${address.slice(0, separator)}:${boundPort}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
