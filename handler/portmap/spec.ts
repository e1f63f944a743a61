// The load balancer's own configuration as read from Consul KV (issue 17):
// Moirai's portmap and sibling keys, parsed and validated into one typed spec.
// Everything here is data; parse.ts builds it, render.ts turns it into HAProxy
// configuration text, change.ts says what a change from one spec to another needs.

export const ENTRY_TYPES = ["http", "https", "https+insecure", "https-http", "tcp", "tcp-proxy-v2"] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export const BALANCE_ALGORITHMS = ["roundrobin", "leastconn", "source", "random", "first", "uri"] as const;
export type BalanceAlgorithm = (typeof BALANCE_ALGORITHMS)[number];

export type StickyMode = "cookie" | "source";
export type HealthLevel = "passing" | "warning";

/** The types whose listener and backend run in HAProxy's `mode http`. */
export function isHttpMode(type: EntryType): boolean {
  return type !== "tcp" && type !== "tcp-proxy-v2";
}

/** The types whose listener ends TLS (`bind ... ssl crt <dir>`), as Moirai's do. */
export function terminatesTls(type: EntryType): boolean {
  return type === "https" || type === "https+insecure" || type === "https-http";
}

export interface HealthCheck {
  /** `check:/path`: an HTTP check (`option httpchk GET <path>`); absent: a TCP connect check. */
  path?: string;
  /** `port:N`: the port checks go to, when not the traffic port. */
  port?: number;
  /** `rise:N`, `fall:N`, `inter:<duration>` (ms); absent: HAProxy's defaults (2, 3, 2000 ms). */
  rise?: number;
  fall?: number;
  interMs?: number;
}

export interface PortmapEntry {
  /** The entry as written in the portmap, for error messages and `status`. */
  text: string;
  type: EntryType;
  listenPort: number;
  /** A Consul service name: the instances that fill this entry's slots. */
  service: string;
  /** `:<port>`: overrides the instances' own port. */
  servicePort?: number;
  /** The HAProxy backend's name, `pm_<listen port>_<service>`: stable when only routes change. */
  backendName: string;
  check: HealthCheck;
  /** Explicit `balance:`, else leastconn (Moirai's choice for every type). */
  balance: BalanceAlgorithm;
  sticky?: StickyMode;
  /** `host:<name>` (lower case) and `path:<prefix>`: routes on a shared http/https listener. */
  host?: string;
  path?: string;
  /** `upgrade:websocket`: every WebSocket upgrade on this entry's listener goes to this entry. */
  upgradeWebsocket: boolean;
  /** `slots:<n>`, else the spec's maxRs. */
  slots: number;
  /** Which Consul health states serve: for the planner, not rendered. */
  health: HealthLevel;
}

export interface Timeouts {
  /** Milliseconds; 0 leaves HAProxy's own value from the defaults section. */
  queue: number;
  connect: number;
  client: number;
  server: number;
}

export interface Syslog {
  host: string;
  port: number;
}

export interface MetricsListener {
  port: number;
  /** Source prefixes allowed; the listener is rendered only when this is not empty. */
  acl: string[];
}

/**
 * The ACME CA that orders the certificates of certificate_name (issue 18).
 * Not rendered: a change of these alone needs no reload (change.ts compares renderings).
 */
export interface AcmeSettings {
  /** acme_directory: the CA's directory URL, https; Let's Encrypt production by default. */
  directory: string;
  /** acme_email: the account's contact, without `mailto:`. */
  email?: string;
  /** acme_ca_file: an absolute path on the load balancer, the CA certificate the directory's TLS chains to. */
  caFile?: string;
}

export interface LoadBalancerSpec {
  entries: PortmapEntry[];
  maxRs: number;
  timeouts: Timeouts;
  metrics: MetricsListener;
  syslog?: Syslog;
  /** Names of certificate files the load balancer has (issuing them is issue 18's). */
  certificateNames: string[];
  acme: AcmeSettings;
}

export const DEFAULT_MAX_RS = 32;
export const MAX_RS_LIMIT = 1024;
export const DEFAULT_METRICS_PORT = 8405;
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = { queue: 0, connect: 2000, client: 55000, server: 120000 };
export const DEFAULT_BALANCE: BalanceAlgorithm = "leastconn";
/** The same URL as acme-client's `directory.letsencrypt.production`: this floor imports no package. */
export const DEFAULT_ACME_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

/** The KV keys under the prefix, with Moirai's names. */
export const PORTMAP_KEYS = ["portmap", "max_rs", "timeouts", "metrics_acl", "metrics_port", "syslog", "certificate_name", "acme_directory", "acme_email", "acme_ca_file"] as const;
export type PortmapKey = (typeof PORTMAP_KEYS)[number];

/** Ports the load balancer already uses, by what uses them: no entry may take one. */
export type ReservedPorts = Partial<Record<"stats" | "admin" | "metrics" | "handler", number>>;
