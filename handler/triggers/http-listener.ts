// The optional HTTP listener of `run` (loopback by default):
//   GET  /healthz  200 when the last reconcile succeeded and Consul is trusted, else 503 with why
//   GET  /metrics  Prometheus text
//   POST /watch    for a Consul watch with handler_type http: the body is only a trigger
//   GET  /.well-known/acme-challenge/<token>  the key authorization of a pending ACME order
//                  (the rendered http listeners send the CA's requests here), else 404
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { answerChallenge, CHALLENGE_PATH, type ChallengeAnswers } from "../certificates/challenge.js";

export interface ListenerHandlers {
  metrics(): string | Promise<string>;
  health(): { healthy: boolean; reason: string };
  trigger(): void;
  /** Pending ACME challenges' responses (the tier's, wherever the order runs); none: every challenge path is 404. */
  challenges?: ChallengeAnswers;
}

export interface HttpListener {
  /** `host:port` actually bound (port 0 in the config asks the OS for one). */
  address: string;
  close(): Promise<void>;
}

/**
 * Limits for a listener nobody should be able to tie up: the handler needs
 * it for /healthz, /metrics and a watch's trigger, nothing bigger or slower.
 * The body of POST /watch is only a trigger and is never kept; bodies are
 * refused beyond 1 MiB (413) so nobody can stream megabytes into it.
 */
export const LISTENER_LIMITS = {
  maxBodyBytes: 1024 * 1024,
  /** All headers must arrive within this (slowloris). */
  headersTimeoutMs: 5_000,
  /** The whole request, body included. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Connections beyond this are refused at once. */
  maxConnections: 64,
} as const;

function reply(response: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  response.writeHead(status, { "content-type": type });
  response.end(body);
}

function handle(handlers: ListenerHandlers, request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? "/").split("?")[0] ?? "/";
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
  if (request.method === "GET" && path.startsWith(CHALLENGE_PATH)) {
    const answers = handlers.challenges;
    Promise.resolve(answers === undefined ? undefined : answerChallenge(path, answers)).then(
      // RFC 8555 8.3: the key authorization as the whole body; a CA ignores the type, but text is what it gets.
      (keyAuthorization) => (keyAuthorization === undefined ? reply(response, 404, "no pending ACME challenge with this token\n") : reply(response, 200, keyAuthorization, "application/octet-stream")),
      // Consul unreachable, say: the CA, or anyone on the path, gets no detail, and retries.
      () => reply(response, 503, "ACME challenges cannot be read now\n"),
    );
    return;
  }
  if (request.method === "POST" && path === "/watch") {
    const tooLarge = (): void => {
      // The body is only a trigger, so the reconcile still runs: a Consul
      // `service` watch of several hundred instances sends more than the cap
      // (about 1.5 KiB per instance), and its change must not wait for the
      // next blocking-query answer. A trigger costs at most one coalesced
      // reconcile, whoever sends it.
      handlers.trigger();
      // Close the connection: the rest of the body is not read.
      response.setHeader("connection", "close");
      reply(response, 413, `payload too large: at most ${LISTENER_LIMITS.maxBodyBytes} bytes\n`);
      response.once("finish", () => request.destroy());
    };
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > LISTENER_LIMITS.maxBodyBytes) {
      tooLarge();
      return;
    }
    let size = 0;
    let refused = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > LISTENER_LIMITS.maxBodyBytes && !refused) {
        refused = true;
        tooLarge();
      }
    });
    request.on("end", () => {
      if (refused) return;
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
  const server = createServer(
    {
      headersTimeout: LISTENER_LIMITS.headersTimeoutMs,
      requestTimeout: LISTENER_LIMITS.requestTimeoutMs,
      keepAliveTimeout: LISTENER_LIMITS.keepAliveTimeoutMs,
      // How often the timeouts above are enforced (Node's default is 30 s).
      connectionsCheckingInterval: 1_000,
    },
    (request, response) => handle(handlers, request, response),
  );
  server.maxConnections = LISTENER_LIMITS.maxConnections;
  // A connection that sends nothing at all is closed too.
  server.setTimeout(LISTENER_LIMITS.requestTimeoutMs, (socket) => socket.destroy());
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
