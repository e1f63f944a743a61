// The handler's one way to talk to Consul's HTTP API: one connection setup
// (ConsulClient: address, TLS, token, one keep-alive agent) shared by the
// health reads and the promoted versions in KV, and requests that never
// stall silently. The `consul` npm client (papi) waits for the response's `end` event only: a body cut
// short (Content-Length larger than what arrives, then the connection
// closes) never ends, so its promise hangs until the request timeout, and a
// blocking query's timeout is minutes. Here every way an answer can go wrong
// is an error with its own cause, at once:
//   - the connection closes before the whole body arrived    -> truncated
//   - the body is not JSON                                    -> bad-answer
//   - no complete answer before the deadline                  -> timeout
//   - the connection cannot be made or breaks before a reply  -> unreachable
import { request as httpRequest, type Agent as HttpAgent, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest, type Agent as HttpsAgent } from "node:https";
import type { ConsulConfig } from "../config/config.js";
import { consulTransport, readConsulToken, resolveConsulConnection, type ConsulConnection, type ConsulTransport } from "./consul-connection.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

export type ConsulHttpFailure = "unreachable" | "truncated" | "bad-answer" | "timeout";

export class ConsulHttpError extends Error {
  constructor(
    readonly failure: ConsulHttpFailure,
    message: string,
    /** The HTTP status, when a status line arrived. */
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = "ConsulHttpError";
  }
}

export interface ConsulHttpAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON for a 2xx answer; the raw text (short) otherwise. */
  body: unknown;
}

export interface ConsulGetOptions {
  agent: HttpAgent | HttpsAgent;
  headers: Record<string, string>;
  /** The whole request, from connect to the last byte of the body. */
  deadlineMs: number;
  signal?: AbortSignal;
}

/** Answers bigger than this are refused: no health answer comes near it. */
const MAX_BODY_BYTES = 512 * 1024 * 1024;

export type ConsulMethod = "GET" | "PUT" | "DELETE";

export function consulGet(url: URL, options: ConsulGetOptions): Promise<ConsulHttpAnswer> {
  return consulRequest("GET", url, options);
}

/** One request; `body` is sent as is (a KV value). The answer is checked as consulGet's. */
export function consulRequest(method: ConsulMethod, url: URL, options: ConsulGetOptions & { body?: string }): Promise<ConsulHttpAnswer> {
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, answer?: ConsulHttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (error) {
        request.destroy();
        reject(error);
      } else if (answer) {
        resolve(answer);
      }
    };
    const headers = options.body === undefined ? options.headers : { ...options.headers, "content-length": String(Buffer.byteLength(options.body)) };
    const request = send(url, { method, agent: options.agent, headers });
    const timer = setTimeout(
      () => finish(new ConsulHttpError("timeout", `no complete answer within ${Math.round(options.deadlineMs)} ms (a blocking query may take its wait time plus Consul's jitter of wait/16)`)),
      options.deadlineMs,
    );
    const onAbort = (): void => finish(new ConsulHttpError("unreachable", "request aborted"));
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    request.on("error", (error: NodeJS.ErrnoException) => finish(new ConsulHttpError("unreachable", error.code ?? error.message)));
    request.on("response", (response) => {
      const statusCode = response.statusCode ?? 0;
      const declared = Number(response.headers["content-length"]);
      const chunks: Buffer[] = [];
      let received = 0;
      response.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_BODY_BYTES) {
          finish(new ConsulHttpError("bad-answer", `the answer is larger than ${MAX_BODY_BYTES} bytes`, statusCode));
          return;
        }
        chunks.push(chunk);
      });
      const truncated = (): ConsulHttpError =>
        new ConsulHttpError(
          "truncated",
          `the answer was cut short: ${received} of ${Number.isFinite(declared) ? `${declared} declared` : "an unknown number of"} bytes arrived before the connection closed`,
          statusCode,
        );
      response.on("aborted", () => finish(truncated()));
      response.on("error", () => finish(truncated()));
      // 'close' without a complete message: the body was cut short.
      response.on("close", () => {
        if (!response.complete) finish(truncated());
      });
      response.on("end", () => {
        if (!response.complete || (Number.isFinite(declared) && received !== declared)) {
          finish(truncated());
          return;
        }
        const text = Buffer.concat(chunks).toString("utf8");
        if (statusCode < 200 || statusCode > 299) {
          finish(undefined, { statusCode, headers: response.headers, body: text.slice(0, 200) });
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (error) {
          finish(new ConsulHttpError("bad-answer", `the answer is not JSON (${(error as Error).message}; ${received} bytes)`, statusCode));
          return;
        }
        finish(undefined, { statusCode, headers: response.headers, body });
      });
    });
    request.end(options.body);
  });
}

/**
 * The resolved connection settings, the transport and the ACL token.
 * Throws ConfigError for unusable CONSUL_* variables, ConsulUntrusted for an
 * unreadable token, Error for unreadable TLS files.
 */
export function openConsul(config: ConsulConfig, environment: Readonly<Record<string, string | undefined>>): { connection: ConsulConnection; transport: ConsulTransport; token: string | undefined } {
  const connection = resolveConsulConnection(config, environment);
  const transport = consulTransport(connection);
  try {
    return { connection, transport, token: readConsulToken(connection) };
  } catch (error) {
    transport.agent.destroy();
    throw new ConsulUntrusted("token", (error as Error).message);
  }
}

/** The handler's one connection setup to Consul (config, then CONSUL_* variables), shared by every reader and writer. */
export class ConsulClient {
  /** The resolved settings and where each came from (check-config shows them). */
  readonly connection: ConsulConnection;
  readonly baseUrl: URL;
  readonly agent: HttpAgent | HttpsAgent;
  readonly token: string | undefined;

  /** Throws ConfigError for unusable CONSUL_* variables, ConsulUntrusted for an unreadable token, Error for unreadable TLS files. */
  constructor(config: ConsulConfig, environment: Readonly<Record<string, string | undefined>> = process.env) {
    const opened = openConsul(config, environment);
    this.connection = opened.connection;
    this.baseUrl = opened.transport.baseUrl;
    this.agent = opened.transport.agent;
    this.token = opened.token;
  }

  /** A request to `path` (from /v1/...) with the token, checked as consulGet's answers; throws ConsulHttpError. */
  request(method: ConsulMethod, path: string, options: { query?: Record<string, string>; body?: string; deadlineMs: number; signal?: AbortSignal }): Promise<ConsulHttpAnswer> {
    const url = new URL(path, this.baseUrl);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers["x-consul-token"] = this.token;
    return consulRequest(method, url, { agent: this.agent, headers, deadlineMs: options.deadlineMs, ...(options.signal ? { signal: options.signal } : {}), ...(options.body !== undefined ? { body: options.body } : {}) });
  }

  /** Closes the kept connections; a request in flight fails. */
  close(): void {
    this.agent.destroy();
  }
}
