// Renders a LoadBalancerSpec into HAProxy configuration text (frontends and
// backends, to be included after the playbook's global and defaults sections)
// and the route map files the frontends read. Pure and deterministic: entries in
// another order render the same text, so reordering the portmap never reloads.
import { routeKey } from "./parse.js";
import { isHttpMode, terminatesTls, type LoadBalancerSpec, type PortmapEntry } from "./spec.js";

export interface RenderOptions {
  /** The address listeners bind to; "" binds every address. */
  bindAddress: string;
  /** The directory of certificates (PEM with key) that TLS-ending listeners present, chosen by SNI. */
  certDirectory: string;
  /** The directory the route map files are written to (and the runtime API's map names). */
  mapDirectory: string;
  /** The CA bundle that verifies https backends' certificates. @default "/etc/ssl/certs/ca-certificates.crt" */
  caFile?: string;
  /** The secret that dynamic stickiness cookies are hashed with; the backend's name is appended. */
  dynamicCookieKey: string;
  /**
   * `host:port` of the handler's own listener (run.listen), which answers ACME
   * HTTP-01 challenges: with certificate names in the spec, every plain http
   * listener sends /.well-known/acme-challenge/ there. Undefined: no route.
   */
  acmeChallengeServer?: string;
}

export interface RenderedLoadBalancer {
  config: string;
  /** Map file name (in mapDirectory) -> content: one "<key> <backend>" line each. */
  maps: Map<string, string>;
}

/** The server-template prefix of every portmap backend: slots are pm1, pm2, ... */
export const SLOT_PREFIX = "pm";
/** The backend that takes ACME challenges to the handler; entries' backends are pm_<port>_<service>, so never this. */
export const ACME_CHALLENGE_BACKEND = "pm_acme_challenge";
const SAFE_SERVER = /^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/;
// The system bundle by its path: HAProxy 2.6 prefixes `@system-ca` with a global ca-base, as Debian's haproxy.cfg sets one.
const DEFAULT_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";
/** Render options come from the handler's own config; they are checked all the same. */
const SAFE_PATH = /^[A-Za-z0-9@._/-]+$/;
const SAFE_ADDRESS = /^[A-Za-z0-9.:[\]]*$/;
const SAFE_KEY = /^[A-Za-z0-9._-]+$/;

export function renderLoadBalancer(spec: LoadBalancerSpec, options: RenderOptions): RenderedLoadBalancer {
  checkOptions(options);
  const listeners = new Map<number, PortmapEntry[]>();
  for (const entry of spec.entries) listeners.set(entry.listenPort, [...(listeners.get(entry.listenPort) ?? []), entry]);
  const sections: string[][] = [];
  const maps = new Map<string, string>();
  for (const port of [...listeners.keys()].sort((a, b) => a - b)) {
    const entries = sortedByBackend(listeners.get(port) ?? []);
    sections.push(renderFrontend(port, entries, spec, options));
    if (entries.some((entry) => isHttpMode(entry.type))) {
      maps.set(mapFileName(port, "host"), renderMap(entries, "host"));
      maps.set(mapFileName(port, "path"), renderMap(entries, "path"));
    }
  }
  if (spec.metrics.acl.length > 0) sections.push(renderMetricsFrontend(spec, options));
  for (const entry of sortedByBackend(spec.entries)) sections.push(renderBackend(entry, spec, options));
  const challengeServer = acmeChallengeServerFor(spec, options);
  if (challengeServer !== undefined && spec.entries.some((entry) => entry.type === "http")) {
    sections.push([`backend ${ACME_CHALLENGE_BACKEND}`, "    mode http", `    server handler ${challengeServer}`]);
  }
  const header = "# The load balancer's portmap, rendered by consul-haproxy-handler from Consul KV: edit the KV keys, not this file.";
  return { config: [header, ...sections.map((lines) => lines.join("\n"))].join("\n\n") + "\n", maps };
}

export function mapFileName(port: number, map: "host" | "path"): string {
  return `pm_${port}_${map}.map`;
}

function checkOptions(options: RenderOptions): void {
  const bad = (what: string, value: string): never => {
    throw new Error(`render option ${what} ${JSON.stringify(value)} has characters a configuration line cannot take: fix it in the handler's config`);
  };
  if (!SAFE_ADDRESS.test(options.bindAddress)) bad("bindAddress", options.bindAddress);
  for (const [what, path] of [["certDirectory", options.certDirectory], ["mapDirectory", options.mapDirectory], ["caFile", options.caFile ?? DEFAULT_CA_FILE]] as const) {
    if (!SAFE_PATH.test(path)) bad(what, path);
  }
  if (!SAFE_KEY.test(options.dynamicCookieKey)) bad("dynamicCookieKey", options.dynamicCookieKey);
  if (options.acmeChallengeServer !== undefined && !SAFE_SERVER.test(options.acmeChallengeServer)) bad("acmeChallengeServer", options.acmeChallengeServer);
}

/** Where challenges go: only when there are certificates to order. */
function acmeChallengeServerFor(spec: LoadBalancerSpec, options: RenderOptions): string | undefined {
  return spec.certificateNames.length > 0 ? options.acmeChallengeServer : undefined;
}

function sortedByBackend(entries: PortmapEntry[]): PortmapEntry[] {
  return [...entries].sort((a, b) => (a.backendName < b.backendName ? -1 : a.backendName > b.backendName ? 1 : 0));
}

function renderFrontend(port: number, entries: PortmapEntry[], spec: LoadBalancerSpec, options: RenderOptions): string[] {
  const first = entries[0] as PortmapEntry;
  const http = isHttpMode(first.type);
  const tls = terminatesTls(first.type) ? ` ssl crt ${options.certDirectory}` : "";
  const lines = [`frontend pm_fe_${port}`, `    mode ${http ? "http" : "tcp"}`, `    bind ${options.bindAddress}:${port}${tls}`, ...commonFrontendLines(spec)];
  if (!http) return [...lines, `    default_backend ${first.backendName}`];
  const hostMap = `${options.mapDirectory}/${mapFileName(port, "host")}`;
  const pathMap = `${options.mapDirectory}/${mapFileName(port, "path")}`;
  lines.push(
    // The host without a port, lower case, then the path: the host map's key.
    "    http-request set-var(txn.pm_path) path",
    "    http-request set-var(txn.pm_route) req.hdr(host),field(1,:),lower,concat(,txn.pm_path,)",
  );
  // HTTP-01 is plain http (RFC 8555 8.3): the CA may reach any listener of the names, before any route of theirs.
  if (first.type === "http" && acmeChallengeServerFor(spec, options) !== undefined) lines.push(`    use_backend ${ACME_CHALLENGE_BACKEND} if { path_beg /.well-known/acme-challenge/ }`);
  for (const entry of entries) if (entry.upgradeWebsocket) lines.push(`    use_backend ${entry.backendName} if { hdr(Upgrade) -i websocket }`);
  // Routes live in the maps only, so that a route change is a map change over the
  // runtime API; "-m found" lets a request no key matches fall through to the next rule.
  lines.push(
    `    use_backend %[var(txn.pm_route),map_beg(${hostMap})] if { var(txn.pm_route),map_beg(${hostMap}) -m found }`,
    `    use_backend %[var(txn.pm_path),map_beg(${pathMap})] if { var(txn.pm_path),map_beg(${pathMap}) -m found }`,
  );
  return lines;
}

function commonFrontendLines(spec: LoadBalancerSpec): string[] {
  const lines: string[] = [];
  if (spec.syslog !== undefined) lines.push(`    log ${spec.syslog.host}:${spec.syslog.port} len 4096 local0`);
  if (spec.timeouts.client > 0) lines.push(`    timeout client ${spec.timeouts.client}`);
  return lines;
}

function renderMetricsFrontend(spec: LoadBalancerSpec, options: RenderOptions): string[] {
  return [
    "frontend pm_metrics",
    "    mode http",
    `    bind ${options.bindAddress}:${spec.metrics.port}`,
    ...commonFrontendLines(spec),
    `    http-request deny unless { src ${spec.metrics.acl.join(" ")} }`,
    "    http-request use-service prometheus-exporter if { path /metrics }",
  ];
}

/** The longest key first: map_beg takes the first key in file order that matches. */
function renderMap(entries: PortmapEntry[], map: "host" | "path"): string {
  const lines = entries
    .filter((entry) => isHttpMode(entry.type) && routeKey(entry).map === map)
    .map((entry) => ({ key: routeKey(entry).key, backend: entry.backendName }))
    .sort((a, b) => b.key.length - a.key.length || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ key, backend }) => `${key} ${backend}\n`);
  return lines.join("");
}

function renderBackend(entry: PortmapEntry, spec: LoadBalancerSpec, options: RenderOptions): string[] {
  const http = isHttpMode(entry.type);
  const lines = [`backend ${entry.backendName}`, `    mode ${http ? "http" : "tcp"}`, `    balance ${entry.balance}`];
  // Consistent hashing moves only the clients of a slot that changed, not everyone's.
  if (entry.balance === "source" || entry.balance === "uri") lines.push("    hash-type consistent");
  if (http) lines.push("    option forwardfor");
  if (entry.check.path !== undefined) lines.push(`    option httpchk GET ${entry.check.path}`);
  if (entry.sticky === "cookie") {
    lines.push(`    cookie ${entry.backendName} insert indirect nocache dynamic`, `    dynamic-cookie-key ${options.dynamicCookieKey}_${entry.backendName}`);
  }
  if (entry.sticky === "source") lines.push("    stick-table type ipv6 size 100k expire 30m", "    stick on src");
  for (const name of ["queue", "connect", "server"] as const) {
    if (spec.timeouts[name] > 0) lines.push(`    timeout ${name} ${spec.timeouts[name]}`);
  }
  lines.push(`    server-template ${SLOT_PREFIX} ${entry.slots} 0.0.0.0:${entry.servicePort ?? entry.listenPort} ${serverOptions(entry, options).join(" ")}`);
  return lines;
}

function serverOptions(entry: PortmapEntry, options: RenderOptions): string[] {
  const words = ["check"];
  if (entry.check.port !== undefined) words.push("port", String(entry.check.port));
  if (entry.check.interMs !== undefined) words.push("inter", `${entry.check.interMs}ms`);
  if (entry.check.rise !== undefined) words.push("rise", String(entry.check.rise));
  if (entry.check.fall !== undefined) words.push("fall", String(entry.check.fall));
  if (entry.type === "https") words.push("ssl", "verify", "required", "ca-file", options.caFile ?? DEFAULT_CA_FILE);
  if (entry.type === "https+insecure") words.push("ssl", "verify", "none");
  if (entry.type === "tcp-proxy-v2") words.push("send-proxy-v2");
  // Slots start empty and in maintenance: the handler fills them over the admin socket.
  words.push("disabled", "init-addr", "none");
  return words;
}
