// A real stack for the handler's integration tests: a Consul agent, HAProxy
// with default, PoW and class slots, and the handler's config pointing at
// both. Tests drive it through the real CLI and look at HAProxy's answers.
import { after } from "node:test";
import { startConsul, type ConsulAgent } from "../../harness/consul.js";
import { startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { runCli, writeHandlerConfig, type CliResult } from "../../harness/cli.js";
import { RuntimeApiClient, type StatRow } from "../../../handler/haproxy-runtime-api/index.js";
export { eventually } from "../../harness/eventually.js";

export interface StackOptions {
  acl?: boolean;
  /** Slots per template. */
  slots?: number;
  caFile?: string;
  /** Extra handler config merged over the defaults. */
  handler?: (base: Record<string, unknown>) => Record<string, unknown>;
  grow?: boolean;
  /** HAProxy's `timeout check` (how long a hanging check waits). @default "1s" */
  timeoutCheck?: string;
  /** More HAProxy configuration after the stack's (a rendered portmap). */
  haproxyExtra?: string;
}

export interface Stack {
  consul: ConsulAgent;
  haproxy: HaproxyInstance;
  frontendPort: number;
  configFile: string;
  admin: RuntimeApiClient;
  cli(args: string[], options?: { stdin?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  sync(): Promise<CliResult>;
  stat(server: string, backend?: string): Promise<StatRow>;
  servers(backend: string): Promise<StatRow[]>;
  request(body?: string): Promise<{ status: number; node: string | undefined; version?: string }>;
}

/** One backend's slots: the default class, two timing classes and two TLS classes. */
function templates(backend: string, slots: number, ca: string): string {
  return `backend ${backend}
    balance roundrobin
    server-template srv ${slots} 0.0.0.0:80 check inter 300ms rise 1 fall 2 disabled init-addr none
    server-template fast 2 0.0.0.0:80 check inter 100ms rise 1 fall 1 disabled init-addr none
    server-template slow 2 0.0.0.0:80 check inter 5s rise 1 fall 5 disabled init-addr none
    server-template tls 2 0.0.0.0:443 check inter 300ms rise 1 fall 2 ssl verify required ca-file ${ca} disabled init-addr none
    server-template tlsnv 2 0.0.0.0:443 check inter 300ms rise 1 fall 2 ssl verify none disabled init-addr none
`;
}

export function haproxyConfig(ports: { admin: number; frontend: number }, options: StackOptions): string {
  const slots = options.slots ?? 4;
  const ca = options.caFile ?? "/etc/ssl/certs/ca-certificates.crt";
  return `
global
    stats socket ipv4@127.0.0.1:${ports.admin} level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check ${options.timeoutCheck ?? "1s"}
    option httpchk GET /health

frontend front
    bind 127.0.0.1:${ports.frontend}
    option http-buffer-request
    acl is_pow req.body -m reg "\\"command\\"[[:space:]]*:[[:space:]]*\\"(attachToTangle|interruptAttachingToTangle)\\""
    use_backend pow_back if is_pow
    default_backend main_back

${["main_back", "pow_back"].map((backend) => templates(backend, slots, ca)).join("\n")}
${options.haproxyExtra ?? ""}`;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const consul = await startConsul({ acl: options.acl === true });
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const haproxy = await startHaproxy({ config: haproxyConfig({ admin: adminPort, frontend: frontendPort }, options), adminPort });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const base: Record<string, unknown> = {
    consul: { address: consul.address, timeoutMs: 2000 },
    haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 2000 },
    policy: { warningAs: "ready", drainSeconds: 2 },
    services: [
      {
        name: "iri",
        backend: "main_back",
        powBackend: "pow_back",
        slotPrefix: "srv",
        defaults: { weight: 1, maxconn: 0 },
        powDefaults: { weight: 1, maxconn: 2 },
        slotClasses: [
          { prefix: "fast", timeout: "fast" },
          { prefix: "slow", timeout: "slow" },
          { prefix: "tls", scheme: "https", sslVerify: true },
          { prefix: "tlsnv", scheme: "https", sslVerify: false },
        ],
        ...(options.grow ? { grow: { keywords: ["check", "inter", "300ms", "rise", "1"], limit: 6 } } : {}),
      },
    ],
  };
  const configFile = writeHandlerConfig(options.handler ? options.handler(base) : base);
  const admin = new RuntimeApiClient(`127.0.0.1:${adminPort}`);
  const stack: Stack = {
    consul,
    haproxy,
    frontendPort,
    configFile,
    admin,
    cli: (args, cliOptions) => runCli(["--config", configFile, ...args], cliOptions),
    sync: () => runCli(["--config", configFile, "sync"]),
    async servers(backend) {
      return (await admin.showStat()).filter((row) => row.pxname === backend && row.svname !== "BACKEND" && row.svname !== "FRONTEND");
    },
    async stat(server, backend = "main_back") {
      const row = (await stack.servers(backend)).find((candidate) => candidate.svname === server);
      if (!row) throw new Error(`no server ${backend}/${server}`);
      return row;
    },
    async request(body) {
      const response = await fetch(`http://127.0.0.1:${frontendPort}/`, body === undefined ? {} : { method: "POST", body, headers: { "content-type": "application/json" } });
      const text = await response.text();
      let node: string | undefined;
      let version: string | undefined;
      try {
        ({ node, version } = JSON.parse(text) as { node?: string; version?: string });
      } catch {
        node = undefined;
      }
      return version === undefined ? { status: response.status, node } : { status: response.status, node, version };
    },
  };
  return stack;
}

export function registration(id: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ID: id,
    Name: "iri",
    Address: "127.0.0.1",
    Port: port,
    // Timeout 5s: a node that answers in milliseconds must not read critical because a loaded CI machine stalled it for a second.
    Check: { HTTP: `http://127.0.0.1:${port}/health`, Interval: "1s", Timeout: "5s" },
    ...extra,
  };
}

/** Registration with a TTL check, so the test decides its health. */
export function ttlRegistration(id: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ID: id, Name: "iri", Address: "127.0.0.1", Port: port, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" }, ...extra };
}

/** The handler's JSON log lines (stderr is not a terminal in tests). */
export function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Whether some log line has all these fields (strings match as regular expressions). */
export function hasLog(stderr: string, fields: Record<string, string | RegExp>): boolean {
  return logLines(stderr).some((line) =>
    Object.entries(fields).every(([key, expected]) => {
      const value = line[key];
      return typeof expected === "string" ? value === expected : typeof value === "string" && expected.test(value);
    }),
  );
}
