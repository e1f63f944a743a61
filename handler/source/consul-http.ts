// One GET against Consul's HTTP API that never stalls silently. The `consul`
// npm client (papi) waits for the response's `end` event only: a body cut
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

export function consulGet(url: URL, options: ConsulGetOptions): Promise<ConsulHttpAnswer> {
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
    const request = send(url, { method: "GET", agent: options.agent, headers: options.headers });
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
    request.end();
  });
}
