// What the handler's config file holds once read. The tables in schema/
// check every key and hold every default; each `@default` below states a
// table's default, and test/unit/config/tables.test.ts fails when one of
// them is missing or differs.

/**
 * What the config file says about Consul. Every connection key is optional:
 * what is left out comes from Consul's CONSUL_* environment variables, then
 * the defaults (see source/consul-connection.ts, which resolves them).
 */
export interface ConsulConfig {
  /** Consul's address forms: host:port, http://…, https://… or unix:///path. @default CONSUL_HTTP_ADDR, else http://127.0.0.1:8500 */
  address?: string;
  /** The ACL token itself (prefer tokenFile: a config file is easily shown). @default CONSUL_HTTP_TOKEN */
  token?: string;
  /** A file holding the ACL token. @default CONSUL_HTTP_TOKEN_FILE */
  tokenFile?: string;
  /** PEM CA file for an https address. @default CONSUL_CACERT, else the system's CAs */
  caFile?: string;
  /** Directory of PEM CA files (caFile wins). @default CONSUL_CAPATH */
  caPath?: string;
  /** Client certificate for Consul's verify_incoming (mTLS). @default CONSUL_CLIENT_CERT */
  clientCert?: string;
  /** The client certificate's key. @default CONSUL_CLIENT_KEY */
  clientKey?: string;
  /** Verify Consul's certificate. @default CONSUL_HTTP_SSL_VERIFY, else true */
  sslVerify?: boolean;
  /** Name to send (SNI) and to verify Consul's certificate against. @default CONSUL_TLS_SERVER_NAME, else the address's host */
  tlsServerName?: string;
  /** The datacenter to read (`?dc=`). @default the agent's */
  datacenter?: string;
  /** How long a read may take; above Consul's 7 s hold of a read while it has no leader, so a missing leader is reported as `no-leader`, not as a timeout. @default 10000 */
  timeoutMs: number;
  /** A service every cluster has; an empty answer is only believed while this one is visible. "" disables. @default "consul" */
  aclCanaryService: string;
  /** `wait` of `run`'s blocking queries; a read is abandoned after wait + wait/16 + timeoutMs. @default 60 */
  blockingWaitSeconds: number;
}

export interface HaproxyConfig {
  /** `host:port` or a unix socket path, at level admin. */
  socket: string;
  /** How long HAProxy may take to answer a batch of commands. @default 5000 */
  timeoutMs: number;
  /** Fill slots with `health down` so traffic waits for HAProxy's own check. @default true */
  holdDownUntilChecked: boolean;
  /** Keep a configuration file HAProxy loads current with the slot assignment (see README, "Reloads"). @default off */
  slotsFile?: SlotsFileConfig;
}

export interface SlotsFileConfig {
  /** The backends' configuration with `server-template` lines, written by the operator. */
  template: string;
  /** The rendered file HAProxy loads (an extra `-f`); rewritten atomically after each apply. */
  output: string;
}

export interface PolicyConfig {
  /** A node whose checks warn serves (`ready`) or drains (`drain`). @default "ready" */
  warningAs: "ready" | "drain";
  /** How long a leaving node drains before its slot is freed. @default 30 */
  drainSeconds: number;
  /** Mass-removal guard: an answer may take at most this fraction of a backend's serving nodes out at once... @default 0.5 */
  maxRemovalFraction: number;
  /** ...unless fewer than this many nodes would go. @default 3 */
  massRemovalMinNodes: number;
  /** A held removal is applied once the same answer has stood this long. @default 300 */
  massRemovalHoldSeconds: number;
}

export interface SlotClassConfig {
  /** The class's server-template prefix. */
  prefix: string;
  /** How HAProxy talks to the nodes in these slots. @default "http" */
  scheme: "http" | "https";
  /** Whether HAProxy verifies the nodes' certificates (https). @default true */
  sslVerify: boolean;
  /** The timeout class a node asks for with its `timeout` setting. @default "default" */
  timeout: string;
}

export interface GrowConfig {
  /** `add server` keywords for slots added when a class runs out. @default ["check"] */
  keywords: string[];
  /** At most this many slots per backend and prefix. @default 4000 */
  limit: number;
}

/**
 * Version-aware routing for one service (see README "Versions"). Present
 * (even as `versioning: {}`) = on; absent = every healthy node serves.
 */
export interface VersioningConfig {
  /** Which versions serve side by side: same MAJOR.MINOR (`minor`), same MAJOR (`major`) or only the same version (`exact`). @default "minor" */
  compatible: "minor" | "major" | "exact";
  /** Which generation serves when the serving one has no healthy instance left, and which one serves first when the handler meets several. @default "newest" */
  prefer: "newest" | "oldest";
  /** Share (0..50) of new requests for the newest healthy generation newer than the serving one while the serving one is healthy; 0 = it waits. @default 0 */
  canaryPercent: number;
}

/** What a slot is reset to. */
export interface WeightAndMaxconn {
  /** The slot's weight. @default 1 */
  weight: number;
  /** The slot's maxconn (0 = no limit). @default 0 */
  maxconn: number;
}

export interface ServiceConfig {
  /** The Consul service name. */
  name: string;
  /** Only instances with this tag (Consul's `?tag=`). @default every instance */
  tag?: string;
  /** Only instances matching this Consul filter expression (`?filter=`, Consul >= 1.5). @default every instance */
  filter?: string;
  /** The default backend. */
  backend: string;
  /** The PoW backend. @default none */
  powBackend?: string;
  /** The server-template prefix in both backends. */
  slotPrefix: string;
  /** What a slot of the default backend is reset to. */
  defaults: WeightAndMaxconn;
  /** What a slot of the PoW backend is reset to. @default the service's defaults */
  powDefaults: WeightAndMaxconn;
  /** Other server-templates with their own TLS and timeouts (see README "slot classes"). @default [] */
  slotClasses: SlotClassConfig[];
  /** `add server` when a backend runs out of slots. @default off */
  grow?: GrowConfig;
  /** Only compatible versions serve (see README "Versions"). @default off */
  versioning?: VersioningConfig;
}

export interface RunConfig {
  /** `host:port` for /healthz, /metrics and POST /watch. @default no listener */
  listen?: string;
  /** `run` reads everything this often, besides the watches. @default 60 */
  resyncSeconds: number;
  /** run.listen may name a non-loopback address only when this is true. @default false */
  allowNonLoopback: boolean;
}

export interface LoadBalancerConfig {
  /** The Consul KV folder of this tier's portmap (Moirai's keys); check-config reads and validates it. @default "consul-haproxy-handler/lb/default/" */
  kvPrefix: string;
  /** `run` fills the slots of the portmap's backends from Consul; HAProxy must have them loaded (docs/portmap.md). @default false */
  enabled: boolean;
  /** `run` also writes the rendered portmap to configFile and reloads HAProxy over masterSocket when it changes (needs enabled). @default false */
  render: boolean;
  /** The rendered portmap: a `-f` of HAProxy's unit, after its main configuration. @default "/etc/haproxy/portmap.cfg" */
  configFile: string;
  /** Where the route maps are written (named in the rendered configuration). @default "/etc/haproxy/portmap-maps" */
  mapDirectory: string;
  /** The certificates (PEM with key) that TLS-ending listeners present, chosen by SNI. @default "/etc/haproxy/certs" */
  certDirectory: string;
  /** The CA bundle that verifies the node certificates of `https` entries (a PEM file, by default Debian's system bundle; `@system-ca` where haproxy.cfg has no ca-base). @default "/etc/ssl/certs/ca-certificates.crt" */
  caFile: string;
  /** The address the portmap's listeners bind to; "" binds every address. @default "" */
  bindAddress: string;
  /** The files HAProxy loads before configFile, in order: `haproxy -c` checks them with the rendering before any reload. @default ["/etc/haproxy/haproxy.cfg"] */
  checkWith: string[];
  /** The haproxy program that checks the configuration. @default "/usr/sbin/haproxy" */
  haproxyBinary: string;
  /** HAProxy's master CLI socket (its -S), which the handler's user may open. @default "/run/haproxy-master.sock" */
  masterSocket: string;
  /** HAProxy's global server-state-file, saved before each reload so that the new worker keeps every slot. @default no file */
  serverStateFile?: string;
  /** The secret of sticky:cookie entries' dynamic cookies; created once (0600) when missing. @default "/var/lib/consul-haproxy-handler/cookie-key" */
  cookieKeyFile: string;
  /** The certificates named by certificate_name: records, account key and bundles (0700); not certDirectory, which HAProxy loads whole. @default "/var/lib/consul-haproxy-handler/certificates" */
  certificateStateDirectory: string;
  /** `run` looks for due certificate orders (a renewal, a failed order's retry) this often, besides right after each rendering. @default 60 */
  certificateCheckSeconds: number;
}

export interface LogConfig {
  /** The least severe level logged. @default "info" */
  level: "error" | "warn" | "info" | "debug";
}

export interface HandlerConfig {
  /** How to reach Consul. */
  consul: ConsulConfig;
  /** How to reach HAProxy. */
  haproxy: HaproxyConfig;
  /** How nodes become slot states, and the mass-removal guard. */
  policy: PolicyConfig;
  /** The lock every command takes; the guard's state and the change stamp live beside it. @default "/run/lock/consul-haproxy-handler.lock" */
  lockFile: string;
  /** The `run` command's listener and resync. */
  run: RunConfig;
  /** Logging. */
  log: LogConfig;
  /** The load balancer's own listeners from Consul KV (docs/portmap.md). */
  lb: LoadBalancerConfig;
  /** The services to keep in step, each with its backends. */
  services: ServiceConfig[];
}
