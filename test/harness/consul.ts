// Starts a real Consul agent (dev mode, or a one-node server with ACLs) on
// loopback with free ports, for tests and benchmarks. stop()/start() keep
// the same ports and data, so a test can take Consul away and bring it back.
// With `joins`, a client agent (a load balancer's local agent) that joins a
// server started here.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { eventually } from "./eventually.js";
import { freePorts } from "./ports.js";

export interface ConsulAgent {
  address: string;
  /** https://127.0.0.1:<port> when started with `tls`, else undefined. */
  httpsAddress: string | undefined;
  /** unix:///<dir>/http.sock when started with `unixSocket`, else undefined. */
  unixAddress: string | undefined;
  httpPort: number;
  dnsPort: number;
  /** The gossip (serf LAN) port, for a client agent to join. */
  serfLanPort: number;
  /** The agent's node name. */
  nodeName: string;
  /** The master token when started with ACLs, else undefined. */
  masterToken: string | undefined;
  /** Calls Consul's HTTP API with the master token (if any). */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: unknown; headers: Headers }>;
  register(registration: Record<string, unknown>): Promise<void>;
  deregister(serviceId: string): Promise<void>;
  /** Creates a token with the given rules (ACL mode only) and returns its secret. */
  createToken(rules: string): Promise<string>;
  /** SIGKILL by default; SIGTERM lets a client agent leave its cluster gracefully (as `systemctl restart` does). */
  stop(signal?: "SIGKILL" | "SIGTERM"): Promise<void>;
  /** `waitFor`: "member" (default) until the servers see this node alive; "api": as soon as the HTTP API answers. */
  start(waitFor?: "member" | "api"): Promise<void>;
  /** Restarts the agent on the same ports with its data dir wiped: an empty catalog (a lost data dir, a re-bootstrapped cluster). */
  restartEmpty(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ConsulOptions {
  acl?: boolean;
  /**
   * Adds an HTTPS listener with this certificate (the plain HTTP one stays,
   * for the harness's own calls). verifyIncoming: clients must present a
   * certificate from caFile (Consul's verify_incoming, i.e. mTLS).
   */
  tls?: { caFile: string; certFile: string; keyFile: string; verifyIncoming: boolean };
  /** Also serve the HTTP API on a unix socket (unixAddress: unix:///path). */
  unixSocket?: boolean;
  /**
   * A server that waits for a second server that never comes: it never has a
   * leader, and answers reads with 500 "No cluster leader".
   */
  leaderless?: boolean;
  /** A client agent (server: false) that joins these servers' gossip; ACLs and TLS are not combined with it. */
  joins?: ConsulAgent | readonly ConsulAgent[];
  /** One server of a cluster (startConsulCluster): its gossip port and its peers' are chosen up front. */
  cluster?: { bootstrapExpect: number; serfLanPort: number; peerSerfLanPorts: readonly number[] };
}

/**
 * A cluster of `size` servers on loopback (3 or 5, as production runs), each
 * a ConsulAgent of its own: stop() one (the leader, say) and start() it
 * again. Resolves once every server sees a leader and itself alive.
 */
export async function startConsulCluster(size = 3): Promise<ConsulAgent[]> {
  const serfPorts = await freePorts(size);
  return Promise.all(
    serfPorts.map((serfLanPort) => startConsul({ cluster: { bootstrapExpect: size, serfLanPort, peerSerfLanPorts: serfPorts.filter((port) => port !== serfLanPort) } })),
  );
}

export async function startConsul(options: ConsulOptions = {}): Promise<ConsulAgent> {
  const directory = mkdtempSync(join(tmpdir(), "cht-consul-"));
  const [httpPort, dnsPort, allocatedSerfLan, serfWan, serverPort, grpcPort, httpsPort] = (await freePorts(7)) as [number, number, number, number, number, number, number];
  const serfLan = options.cluster?.serfLanPort ?? allocatedSerfLan;
  const joins = options.joins === undefined ? [] : Array.isArray(options.joins) ? (options.joins as readonly ConsulAgent[]) : [options.joins as ConsulAgent];
  const role = options.cluster
    ? { server: true, bootstrap_expect: options.cluster.bootstrapExpect, retry_join: options.cluster.peerSerfLanPorts.map((port) => `127.0.0.1:${port}`), retry_interval: "1s" }
    : joins.length > 0
      ? { server: false, retry_join: joins.map((server) => `127.0.0.1:${server.serfLanPort}`), retry_interval: "1s" }
      : { server: true, bootstrap_expect: options.leaderless ? 2 : 1 };
  const masterToken = options.acl ? randomUUID() : undefined;
  const configFile = join(directory, "config.json");
  const config: Record<string, unknown> = {
    data_dir: join(directory, "data"),
    bind_addr: "127.0.0.1",
    client_addr: "127.0.0.1",
    advertise_addr: "127.0.0.1",
    ...role,
    node_name: `test-${httpPort}`,
    ports: { http: httpPort, dns: dnsPort, serf_lan: serfLan, serf_wan: serfWan, server: serverPort, grpc: grpcPort },
    enable_script_checks: false,
    performance: { raft_multiplier: 1 },
    log_level: "warn",
  };
  if (options.tls) {
    config["ports"] = { ...(config["ports"] as Record<string, number>), https: httpsPort };
    config["ca_file"] = options.tls.caFile;
    config["cert_file"] = options.tls.certFile;
    config["key_file"] = options.tls.keyFile;
    config["verify_incoming"] = options.tls.verifyIncoming;
  }
  if (options.unixSocket) config["addresses"] = { http: `127.0.0.1 unix://${join(directory, "http.sock")}` };
  if (masterToken) {
    config["acl"] = { enabled: true, default_policy: "deny", down_policy: "extend-cache", tokens: { master: masterToken, agent: masterToken } };
  }
  writeFileSync(configFile, JSON.stringify(config));
  const address = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;

  const api = async (method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: unknown; headers: Headers }> => {
    const headers: Record<string, string> = {};
    const useToken = token === null ? undefined : (token ?? masterToken);
    if (useToken) headers["X-Consul-Token"] = useToken;
    const response = await fetch(`${address}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    let json: unknown = text;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // leave as text
    }
    return { status: response.status, json, headers: response.headers };
  };

  const nodeName = `test-${httpPort}`;
  /** The servers' view of this node: its serfHealth check's status. */
  const serfHealth = async (): Promise<string | undefined> => {
    const checks = (await api("GET", `/v1/health/node/${nodeName}`)).json;
    return Array.isArray(checks) ? (checks as { CheckID: string; Status: string }[]).find((check) => check.CheckID === "serfHealth")?.Status : undefined;
  };

  const start = async (waitFor: "member" | "api" = "member", attempt = 1): Promise<void> => {
    const process = spawn("consul", ["agent", "-config-file", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    process.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child = process;
    const exited = () => (process.exitCode !== null ? `consul exited (${process.exitCode}): ${stderr.trim().split("\n").slice(-3).join(" | ")}` : undefined);
    if (options.leaderless || waitFor === "api") {
      try {
        await eventually(async () => (await fetch(`${address}/v1/agent/self`)).ok, (ok) => ok, "the Consul agent", 15_000, { giveUpIf: exited });
      } catch (error) {
        // A restarted agent can exit at once on a loaded machine (the last
        // one's ports not free yet): started again, twice at most.
        if (process.exitCode === null || attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
        await start(waitFor, attempt + 1);
      }
      return;
    }
    await eventually(
      async () => {
        const leader = await fetch(`${address}/v1/status/leader`);
        const text = await leader.text();
        return leader.ok && text.length > 4;
      },
      (elected) => elected,
      "the Consul leader",
      15_000,
      { giveUpIf: exited },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; consul stderr: ${stderr}`);
    });
    // The leader also has to have set up the catalog (and the ACL system) before tests use it.
    await eventually(async () => (await api("GET", "/v1/catalog/nodes")).status, (status) => status === 200, "the Consul catalog", 15_000, { giveUpIf: exited });
    // The handler acts only on a local agent that the servers see alive.
    await eventually(serfHealth, (status) => status === "passing", `node ${nodeName} alive in the servers' view`, 30_000, { giveUpIf: exited });
  };

  const stop = async (signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(signal);
    await exited;
  };

  await start();
  const agent: ConsulAgent = {
    address,
    httpsAddress: options.tls ? `https://127.0.0.1:${httpsPort}` : undefined,
    unixAddress: options.unixSocket ? `unix://${join(directory, "http.sock")}` : undefined,
    httpPort,
    dnsPort,
    serfLanPort: serfLan,
    nodeName,
    masterToken,
    api,
    async register(registration) {
      const response = await api("PUT", "/v1/agent/service/register", registration);
      if (response.status !== 200) throw new Error(`register failed: ${response.status} ${JSON.stringify(response.json)}`);
    },
    async deregister(serviceId) {
      const response = await api("PUT", `/v1/agent/service/deregister/${encodeURIComponent(serviceId)}`);
      if (response.status !== 200) throw new Error(`deregister failed: ${response.status} ${JSON.stringify(response.json)}`);
    },
    async createToken(rules) {
      const policy = await api("PUT", "/v1/acl/policy", { Name: `p-${randomUUID()}`, Rules: rules });
      if (policy.status !== 200) throw new Error(`policy create failed: ${JSON.stringify(policy.json)}`);
      const policyId = (policy.json as { ID: string }).ID;
      const token = await api("PUT", "/v1/acl/token", { Policies: [{ ID: policyId }] });
      if (token.status !== 200) throw new Error(`token create failed: ${JSON.stringify(token.json)}`);
      return (token.json as { SecretID: string }).SecretID;
    },
    stop,
    start,
    async restartEmpty() {
      await stop();
      rmSync(join(directory, "data"), { recursive: true, force: true });
      await start();
    },
    async cleanup() {
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return agent;
}
