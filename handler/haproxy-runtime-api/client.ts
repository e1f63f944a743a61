// A client for HAProxy's runtime API (the admin socket). All commands of a
// batch go over ONE connection in the CLI's prompt mode, one command per
// line, written at once; HAProxy prints its prompt `> ` after every line's
// reply, so each command gets exactly its own reply. (Not `;`-joined lines:
// 2.6 and 3.0 print a prompt after each command of such a line, 3.2 only
// after the whole line.) One connection per batch is ~15x faster than one
// per command.
//
// A command with a payload (`set ssl cert`) is written as its line ending in
// `<<`, the payload's lines and an empty line that ends it. While it reads a
// payload in prompt mode, HAProxy prints `+ ` (2.6 and 3.0: after every line;
// 3.2: after every read that ends inside the payload, often never) and no
// newline, so those prompts lead the command's reply and are cut off it.
import { createConnection, type Socket } from "node:net";
import { commands, type RuntimeCommand } from "./commands.js";
import { connectOptions, describeEndpoint, parseEndpoint, type RuntimeEndpoint } from "./endpoint.js";
import {
  parseShowInfo,
  parseShowServersState,
  parseShowSslCert,
  parseShowSslCertList,
  parseShowStat,
  type ProcessInfo,
  type ServerStateRow,
  type SslCertDetail,
  type SslCertList,
  type StatRow,
} from "./parse.js";

export interface CommandReply {
  command: string;
  output: string;
  ok: boolean;
}

/** The socket could not be used (refused, timed out, closed early): nothing is known about what ran. */
export class RuntimeApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeApiError";
  }
}

export interface RuntimeSession {
  execute(commandList: readonly RuntimeCommand[]): Promise<CommandReply[]>;
}

export interface RuntimeApiClientOptions {
  timeoutMs?: number;
  /** Longest line sent; HAProxy's default tune.bufsize is 16 KB. */
  maxLineBytes?: number;
  /**
   * Longest command with its payload, as written: HAProxy reads both into one
   * buffer of tune.bufsize (16 KB by default) and drops the connection (2.6)
   * or refuses the command (3.0 and later) when they do not fit.
   */
  maxPayloadCommandBytes?: number;
}

const PROMPT = "\n> ";

const PROMPT_BYTES = Buffer.from(PROMPT, "latin1");

/** The `+ ` prompts HAProxy printed while it read a payload (see the top of this file). */
const PAYLOAD_PROMPTS = /^(?:\+ )+/;

/**
 * Splits the CLI's byte stream into replies: in prompt mode the prompt
 * follows every reply, at the start of a line. Each chunk is searched once
 * (with the few bytes before it, for a prompt split across two chunks) and a
 * reply is decoded once, so large replies cost O(size). Each reply keeps its
 * final newline.
 */
export class ReplySplitter {
  /** Bytes of the reply being received, not yet ended by a prompt. */
  private parts: Buffer[] = [];
  /** The last bytes of `parts`. */
  private tail: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    const replies: string[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      const window = this.tail.length > 0 ? Buffer.concat([this.tail, rest]) : rest;
      const at = window.indexOf(PROMPT_BYTES);
      if (at < 0) {
        this.parts.push(rest);
        const keep = Math.min(PROMPT_BYTES.length - 1, window.length);
        this.tail = Buffer.from(window.subarray(window.length - keep));
        break;
      }
      // Where the prompt starts relative to `rest`: negative when it began in the tail.
      const inRest = at - this.tail.length;
      if (inRest < 0) {
        const reply = Buffer.concat(this.parts);
        replies.push(reply.subarray(0, reply.length + inRest + 1).toString("latin1"));
      } else {
        this.parts.push(rest.subarray(0, inRest + 1));
        replies.push(Buffer.concat(this.parts).toString("latin1"));
      }
      this.parts = [];
      this.tail = Buffer.alloc(0);
      rest = rest.subarray(inRest + PROMPT_BYTES.length);
    }
    return replies;
  }
}

/** One open prompt-mode connection. */
class PromptConnection implements RuntimeSession {
  private readonly splitter = new ReplySplitter();
  private replies: string[] = [];
  private waiter: { count: number; resolve: (replies: string[]) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly where: string,
    private readonly timeoutMs: number,
    private readonly maxLineBytes: number,
    private readonly maxPayloadCommandBytes: number,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (error: Error) => this.fail(new RuntimeApiError(`HAProxy admin socket ${where}: ${error.message}`)));
    socket.on("close", () => this.fail(new RuntimeApiError(`HAProxy closed the admin socket ${where} before answering every command; is it 'level admin' and is 'stats timeout' long enough?`)));
  }

  /** Opens the connection and enters prompt mode. */
  static async open(endpoint: RuntimeEndpoint, timeoutMs: number, maxLineBytes: number, maxPayloadCommandBytes: number): Promise<PromptConnection> {
    const where = describeEndpoint(endpoint);
    const socket = createConnection(connectOptions(endpoint));
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RuntimeApiError(`timed out connecting to the HAProxy admin socket ${where}; check haproxy.socket and that HAProxy runs`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new RuntimeApiError(`cannot connect to the HAProxy admin socket ${where} (${error.code ?? error.message}); check haproxy.socket and that HAProxy's config has 'stats socket ${where} level admin'`));
      });
    });
    const connection = new PromptConnection(socket, where, timeoutMs, maxLineBytes, maxPayloadCommandBytes);
    // The reply to `prompt` itself is an empty line followed by the first prompt.
    await connection.send(["prompt"], 1);
    return connection;
  }

  /** Closed, failed or timed out: not usable again. */
  get broken(): boolean {
    return this.failure !== undefined || this.socket.destroyed;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }

  private receive(chunk: Buffer): void {
    this.replies.push(...this.splitter.push(chunk));
    this.deliver();
  }

  /** Hands complete replies to the waiter once all it expects have arrived. */
  private deliver(): void {
    const waiter = this.waiter;
    if (!waiter || this.replies.length < waiter.count) return;
    const replies = this.replies.splice(0, waiter.count);
    this.waiter = undefined;
    waiter.resolve(replies);
  }

  private send(lines: string[], expected: number): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new RuntimeApiError(`HAProxy did not answer ${expected} command(s) on ${this.where} within ${this.timeoutMs} ms`));
        this.socket.destroy();
      }, this.timeoutMs);
      this.waiter = {
        count: expected,
        resolve: (replies) => {
          clearTimeout(timer);
          resolve(replies);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.socket.write(lines.map((line) => `${line}\n`).join(""));
      this.deliver();
    });
  }

  /**
   * One line per command, each under HAProxy's buffer size; a command with a
   * payload is its line ending in `<<`, then the payload (send() adds the
   * newline that leaves the empty line ending it).
   */
  private pack(commandList: readonly RuntimeCommand[]): string[] {
    return commandList.map(({ text, payload }) => {
      if (Buffer.byteLength(text) + 1 > this.maxLineBytes) throw new RuntimeApiError(`a runtime command is longer than ${this.maxLineBytes} bytes`);
      if (payload === undefined) return text;
      // Defence in depth (commands.ts builds payloads that pass): an empty
      // line would end the payload early and run the rest as commands. The
      // message never quotes the payload, which may hold a private key.
      if (payload === "" || /\r|\n\n|^\n|\n$/.test(payload)) throw new RuntimeApiError(`refusing to send '${text}': its payload is empty, holds an empty line or a CR, or starts or ends with a newline`);
      const written = `${text} <<\n${payload}\n`;
      if (Buffer.byteLength(written) + 1 > this.maxPayloadCommandBytes) throw new RuntimeApiError(`'${text}' with its payload is longer than ${this.maxPayloadCommandBytes} bytes`);
      return written;
    });
  }

  async execute(commandList: readonly RuntimeCommand[]): Promise<CommandReply[]> {
    if (commandList.length === 0) return [];
    const outputs = await this.send(this.pack(commandList), commandList.length);
    return commandList.map((runtimeCommand, index) => {
      // Each reply ends with its own newline (and a blank line for most); trim both.
      let output = (outputs[index] ?? "").replace(/\n+$/, "").replace(/^\n/, "");
      if (runtimeCommand.payload !== undefined) output = output.replace(PAYLOAD_PROMPTS, "");
      return { command: runtimeCommand.text, output, ok: runtimeCommand.succeeded(output) };
    });
  }

  close(): void {
    if (!this.socket.destroyed) this.socket.end("quit\n");
    this.socket.destroy();
  }
}

/**
 * How long a kept connection may sit idle before it is closed: well under
 * HAProxy's default `stats timeout` (10 s), so HAProxy never closes it first
 * while a command is on its way.
 */
export const KEPT_IDLE_MS = 2000;
/**
 * A kept connection is not reused once this old: after a reload the old
 * process may still hold it, and commands must reach the new one.
 */
export const KEPT_MAX_AGE_MS = 5000;

export class RuntimeApiClient {
  private readonly endpoint: RuntimeEndpoint;
  private readonly timeoutMs: number;
  private readonly maxLineBytes: number;
  private readonly maxPayloadCommandBytes: number;
  private kept: { connection: PromptConnection; idle: NodeJS.Timeout; openedAt: number } | undefined;
  /** Counts closeKept() calls: a connection in use when it was called is not kept. */
  private keptGeneration = 0;

  constructor(endpoint: string, options: RuntimeApiClientOptions = {}) {
    this.endpoint = parseEndpoint(endpoint);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxLineBytes = options.maxLineBytes ?? 8192;
    this.maxPayloadCommandBytes = options.maxPayloadCommandBytes ?? 15 * 1024;
  }

  /** One connection for several round trips. */
  async session<T>(work: (session: RuntimeSession) => Promise<T>): Promise<T> {
    const connection = await PromptConnection.open(this.endpoint, this.timeoutMs, this.maxLineBytes, this.maxPayloadCommandBytes);
    try {
      return await work(connection);
    } finally {
      connection.close();
    }
  }

  /**
   * Like session(), on a connection kept open between calls that follow each
   * other within KEPT_IDLE_MS (a burst of changes in `run` pays for one
   * connection). One caller at a time; an error closes the connection.
   */
  async keptSession<T>(work: (session: RuntimeSession) => Promise<T>): Promise<T> {
    const generation = this.keptGeneration;
    let kept = this.kept;
    this.kept = undefined;
    if (kept) clearTimeout(kept.idle);
    if (kept && (kept.connection.broken || Date.now() - kept.openedAt > KEPT_MAX_AGE_MS)) {
      kept.connection.close();
      kept = undefined;
    }
    const openedAt = kept?.openedAt ?? Date.now();
    const connection = kept?.connection ?? (await PromptConnection.open(this.endpoint, this.timeoutMs, this.maxLineBytes, this.maxPayloadCommandBytes));
    let result: T;
    try {
      result = await work(connection);
    } catch (error) {
      connection.close();
      throw error;
    }
    if (generation !== this.keptGeneration) {
      connection.close();
      return result;
    }
    const idle = setTimeout(() => this.closeKept(), KEPT_IDLE_MS);
    idle.unref();
    this.kept = { connection, idle, openedAt };
    return result;
  }

  /** Closes the kept connection, and the one in use when it is given back. */
  closeKept(): void {
    this.keptGeneration += 1;
    if (!this.kept) return;
    clearTimeout(this.kept.idle);
    this.kept.connection.close();
    this.kept = undefined;
  }

  /** All commands on one connection, in order; one reply each. Error replies are ok=false, not exceptions. */
  execute(commandList: readonly RuntimeCommand[]): Promise<CommandReply[]> {
    return this.session((session) => session.execute(commandList));
  }

  private async showOne(runtimeCommand: RuntimeCommand): Promise<string> {
    const [reply] = await this.execute([runtimeCommand]);
    if (!reply?.ok) throw new RuntimeApiError(`HAProxy refused '${runtimeCommand.text}': ${reply?.output ?? "no reply"}`);
    return reply.output;
  }

  async showStat(backend?: string): Promise<StatRow[]> {
    return parseShowStat(await this.showOne(commands.showStat(backend)));
  }

  /** `show servers state` as HAProxy wrote it: what a server-state-file holds. */
  async showServersStateText(): Promise<string> {
    return this.showOne(commands.showServersState());
  }

  async showServersState(backend?: string): Promise<ServerStateRow[]> {
    return parseShowServersState(await this.showOne(commands.showServersState(backend)));
  }

  /** `admin`, `operator` or `user`. */
  async showCliLevel(): Promise<string> {
    return (await this.showOne(commands.showCliLevel())).trim();
  }

  async showInfo(): Promise<ProcessInfo> {
    return parseShowInfo(await this.showOne(commands.showInfo()));
  }

  /** The certificate stores HAProxy holds, and the open transaction's file. */
  async showSslCerts(): Promise<SslCertList> {
    return parseShowSslCertList(await this.showOne(commands.showSslCert()));
  }

  /** The certificate `file` serves (its committed store). */
  async showSslCert(file: string): Promise<SslCertDetail> {
    return parseShowSslCert(await this.showOne(commands.showSslCert(file)));
  }
}
