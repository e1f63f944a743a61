// The handler's one configuration file (YAML). Every value is checked here,
// and every error names the key and what is expected, so an operator can fix
// the file without reading code.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { describeRange, isKeyword, KEYWORD_RULE, MAXCONN, NAME_PATTERN, NAME_RULE, PORT, WEIGHT } from "../haproxy-runtime-api/index.js";

export const DEFAULT_CONFIG_PATH = "/etc/consul-haproxy-handler/config.yml";

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
  datacenter?: string;
  timeoutMs: number;
  /** A service every cluster has; an empty answer is only believed while this one is visible. "" disables. */
  aclCanaryService: string;
  /** `wait` of `run`'s blocking queries; a read is abandoned after wait + wait/16 + timeoutMs. */
  blockingWaitSeconds: number;
}

export interface HaproxyConfig {
  /** `host:port` or a unix socket path. */
  socket: string;
  timeoutMs: number;
  /** Fill slots with `health down` so traffic waits for HAProxy's own check. */
  holdDownUntilChecked: boolean;
  /** Keep a configuration file HAProxy loads current with the slot assignment (see README, "Reloads"). */
  slotsFile?: SlotsFileConfig;
}

export interface SlotsFileConfig {
  /** The backends' configuration with `server-template` lines, written by the operator. */
  template: string;
  /** The rendered file HAProxy loads (an extra `-f`); rewritten atomically after each apply. */
  output: string;
}

export interface PolicyConfig {
  warningAs: "ready" | "drain";
  drainSeconds: number;
  /** Mass-removal guard: an answer may take at most this fraction of a backend's serving nodes out at once... */
  maxRemovalFraction: number;
  /** ...unless fewer than this many nodes would go. */
  massRemovalMinNodes: number;
  /** A held removal is applied once the same answer has stood this long. */
  massRemovalHoldSeconds: number;
}

export interface SlotClassConfig {
  prefix: string;
  scheme: "http" | "https";
  sslVerify: boolean;
  timeout: string;
}

export interface GrowConfig {
  /** `add server` keywords for slots added when a class runs out. */
  keywords: string[];
  limit: number;
}

/**
 * Version-aware routing for one service (see README "Versions"). Present
 * (even as `versioning: {}`) = on; absent = every healthy node serves.
 */
export interface VersioningConfig {
  /**
   * Which versions serve side by side: same MAJOR.MINOR (`minor`), same
   * MAJOR (`major`) or only the same version (`exact`).
   * @default "minor"
   */
  compatible: "minor" | "major" | "exact";
  /**
   * Which generation serves when the serving one has no healthy instance
   * left, and which one serves first when the handler meets several.
   * @default "newest"
   */
  prefer: "newest" | "oldest";
  /**
   * Share (0..50) of new requests for the newest healthy generation newer
   * than the serving one while the serving one is healthy; 0 = it waits.
   * @default 0
   */
  canaryPercent: number;
}

export interface ServiceConfig {
  name: string;
  /** Only instances with this tag (Consul's `?tag=`). @default every instance */
  tag?: string;
  /** Only instances matching this Consul filter expression (`?filter=`, Consul >= 1.5). @default every instance */
  filter?: string;
  backend: string;
  powBackend?: string;
  slotPrefix: string;
  slotClasses: SlotClassConfig[];
  defaults: { weight: number; maxconn: number };
  powDefaults: { weight: number; maxconn: number };
  grow?: GrowConfig;
  versioning?: VersioningConfig;
}

export interface RunConfig {
  /** `host:port` for /healthz, /metrics and POST /watch; undefined = no listener. */
  listen?: string;
  resyncSeconds: number;
  /** run.listen may name a non-loopback address only when this is true. */
  allowNonLoopback: boolean;
}

export interface HandlerConfig {
  consul: ConsulConfig;
  haproxy: HaproxyConfig;
  policy: PolicyConfig;
  lockFile: string;
  run: RunConfig;
  log: { level: "error" | "warn" | "info" | "debug" };
  services: ServiceConfig[];
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem(s) in the configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

// Backend names, slot prefixes, weights, maxconn and `add server` keywords
// reach the admin socket: they are checked with the runtime client's own
// rules (haproxy-runtime-api/limits.ts), never with a copy of them.
const CONSUL_SERVICE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
/** A slot class's timeout name, which a node asks for with its `timeout` setting. */
export const TIMEOUT_CLASS_PATTERN = /^[a-z0-9_-]{1,32}$/;
/** How TIMEOUT_CLASS_PATTERN reads in an error message. */
export const TIMEOUT_CLASS_RULE = "a timeout class name (a-z, 0-9, '_' or '-')";

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Collects problems instead of stopping at the first, so one run shows them all. */
class Reader {
  readonly problems: string[] = [];

  section(parent: Raw, key: string, path: string, required: boolean): Raw {
    const value = parent[key];
    if (value === undefined || value === null) {
      if (required) this.problems.push(`${path}: missing; expected a mapping`);
      return {};
    }
    if (!isRecord(value)) {
      this.problems.push(`${path}: expected a mapping, got ${describe(value)}`);
      return {};
    }
    return value;
  }

  string(parent: Raw, key: string, path: string, options: { required?: boolean; pattern?: RegExp; hint?: string; fallback?: string } = {}): string | undefined {
    const value = parent[key];
    if (value === undefined || value === null) {
      if (options.required) this.problems.push(`${path}: missing; expected ${options.hint ?? "a string"}`);
      return options.fallback;
    }
    if (typeof value !== "string" || value.length === 0) {
      this.problems.push(`${path}: expected ${options.hint ?? "a non-empty string"}, got ${describe(value)}`);
      return options.fallback;
    }
    if (options.pattern && !options.pattern.test(value)) {
      this.problems.push(`${path}: ${JSON.stringify(value)} is not valid; expected ${options.hint ?? String(options.pattern)}`);
      return options.fallback;
    }
    return value;
  }

  integer(parent: Raw, key: string, path: string, min: number, max: number, fallback: number): number {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${path}: expected ${describeRange({ min, max })}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  boolean(parent: Raw, key: string, path: string, fallback: boolean): boolean {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") {
      this.problems.push(`${path}: expected true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(parent: Raw, key: string, path: string, words: readonly T[], fallback: T): T {
    const value = parent[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string" || !(words as readonly string[]).includes(value)) {
      this.problems.push(`${path}: expected one of ${words.join(", ")}, got ${describe(value)}`);
      return fallback;
    }
    return value as T;
  }

  unknownKeys(section: Raw, path: string, known: readonly string[]): void {
    for (const key of Object.keys(section)) {
      if (!known.includes(key)) this.problems.push(`${path}.${key}: unknown key; expected one of ${known.join(", ")}`);
    }
  }
}

/**
 * Consul's address forms: `host:port` (scheme from CONSUL_HTTP_SSL, else
 * http), `http://host:port`, `https://host:port`, `unix:///path/to/socket`.
 * Returns the normalised URL, or undefined when the text is none of those.
 */
export function normaliseConsulAddress(text: string, defaultScheme: "http" | "https" = "http"): string | undefined {
  const trimmed = text.trim();
  const unix = /^unix:\/\/(\/[^\s]*[^\s/])\/?$/.exec(trimmed);
  if (unix) return `unix://${unix[1] ?? ""}`;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `${defaultScheme}://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || url.pathname !== "/" || url.search !== "" || url.username !== "") return undefined;
  return `${url.protocol}//${url.host}`;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isRecord(value)) return "a mapping";
  return JSON.stringify(value);
}

const FILTER_OPERATOR = /(==|!=|\bin\b|\bcontains\b|\bis\s+(not\s+)?empty\b|\bmatches\b)/;

/**
 * A light check of a Consul filter expression, so an obvious mistake is a
 * config error rather than a failing read; Consul itself checks the rest
 * (HTTP 400, shown by check-config).
 */
export function filterProblem(filter: string): string | undefined {
  if (filter.length > 2048) return "longer than 2048 characters";
  if (/\p{Cc}/u.test(filter)) return "contains a control character (a newline?); write it on one line";
  if (!FILTER_OPERATOR.test(filter)) return "no operator; expected e.g. Service.Meta.env == \"prod\" or \"canary\" in Service.Tags";
  let depth = 0;
  let quote: string | undefined;
  for (let index = 0; index < filter.length; index += 1) {
    const character = filter[index];
    if (quote !== undefined) {
      if (character === "\\") index += 1;
      else if (character === quote) quote = undefined;
    } else if (character === '"' || character === "`") {
      quote = character;
    } else if (character === "(") {
      depth += 1;
    } else if (character === ")") {
      depth -= 1;
      if (depth < 0) return "a ')' without its '('";
    }
  }
  if (quote !== undefined) return `an unclosed ${quote}`;
  if (depth > 0) return "a '(' without its ')'";
  return undefined;
}

function readWeightAndMaxconn(reader: Reader, parent: Raw, key: string, path: string, fallback: { weight: number; maxconn: number }): { weight: number; maxconn: number } {
  const section = reader.section(parent, key, path, false);
  reader.unknownKeys(section, path, ["weight", "maxconn"]);
  return {
    weight: reader.integer(section, "weight", `${path}.weight`, WEIGHT.min, WEIGHT.max, fallback.weight),
    maxconn: reader.integer(section, "maxconn", `${path}.maxconn`, MAXCONN.min, MAXCONN.max, fallback.maxconn),
  };
}

function readService(reader: Reader, raw: unknown, index: number): ServiceConfig | undefined {
  const path = `services[${index}]`;
  if (!isRecord(raw)) {
    reader.problems.push(`${path}: expected a mapping with name, backend and slotPrefix, got ${describe(raw)}`);
    return undefined;
  }
  reader.unknownKeys(raw, path, ["name", "tag", "filter", "backend", "powBackend", "slotPrefix", "slotClasses", "defaults", "powDefaults", "grow", "versioning"]);
  const name = reader.string(raw, "name", `${path}.name`, { required: true, pattern: CONSUL_SERVICE_NAME, hint: "a Consul service name (letters, digits, '_' or '-')" });
  const backend = reader.string(raw, "backend", `${path}.backend`, { required: true, pattern: NAME_PATTERN, hint: `an HAProxy backend name: ${NAME_RULE}` });
  const powBackend = reader.string(raw, "powBackend", `${path}.powBackend`, { pattern: NAME_PATTERN, hint: `an HAProxy backend name: ${NAME_RULE}` });
  const slotPrefix = reader.string(raw, "slotPrefix", `${path}.slotPrefix`, { required: true, pattern: NAME_PATTERN, hint: `the server-template prefix: ${NAME_RULE}` });

  // Both reach Consul as query parameters (URL-encoded); kept to printable text so a typo shows.
  const tag = reader.string(raw, "tag", `${path}.tag`, { pattern: /^\P{Cc}{1,255}$/u, hint: "a Consul tag (printable text, at most 255 characters)" });
  const filter = reader.string(raw, "filter", `${path}.filter`, { hint: "a Consul filter expression, e.g. 'Service.Meta.env == \"prod\"'" });
  if (filter !== undefined) {
    const problem = filterProblem(filter);
    if (problem !== undefined) reader.problems.push(`${path}.filter: ${JSON.stringify(filter)}: ${problem}`);
  }

  const slotClasses: SlotClassConfig[] = [];
  const rawClasses = raw["slotClasses"];
  if (rawClasses !== undefined && rawClasses !== null && !Array.isArray(rawClasses)) {
    reader.problems.push(`${path}.slotClasses: expected a list, got ${describe(rawClasses)}`);
  } else if (Array.isArray(rawClasses)) {
    rawClasses.forEach((rawClass: unknown, classIndex: number) => {
      const classPath = `${path}.slotClasses[${classIndex}]`;
      if (!isRecord(rawClass)) {
        reader.problems.push(`${classPath}: expected a mapping with prefix and scheme/sslVerify/timeout, got ${describe(rawClass)}`);
        return;
      }
      reader.unknownKeys(rawClass, classPath, ["prefix", "scheme", "sslVerify", "timeout"]);
      const prefix = reader.string(rawClass, "prefix", `${classPath}.prefix`, { required: true, pattern: NAME_PATTERN, hint: `a server-template prefix: ${NAME_RULE}` });
      const scheme = reader.oneOf(rawClass, "scheme", `${classPath}.scheme`, ["http", "https"] as const, "http");
      const sslVerify = reader.boolean(rawClass, "sslVerify", `${classPath}.sslVerify`, true);
      const timeout = reader.string(rawClass, "timeout", `${classPath}.timeout`, { pattern: TIMEOUT_CLASS_PATTERN, hint: TIMEOUT_CLASS_RULE, fallback: "default" }) ?? "default";
      if (prefix) slotClasses.push({ prefix, scheme, sslVerify, timeout });
    });
  }

  let grow: GrowConfig | undefined;
  if (raw["grow"] !== undefined && raw["grow"] !== null) {
    const growSection = reader.section(raw, "grow", `${path}.grow`, false);
    reader.unknownKeys(growSection, `${path}.grow`, ["keywords", "limit"]);
    const keywords = growSection["keywords"] ?? ["check"];
    if (!Array.isArray(keywords) || !keywords.every(isKeyword)) {
      reader.problems.push(`${path}.grow.keywords: expected a list of HAProxy server keywords and values of ${KEYWORD_RULE}, got ${describe(keywords)}`);
    } else {
      grow = { keywords, limit: reader.integer(growSection, "limit", `${path}.grow.limit`, 1, 100_000, 4000) };
    }
  }

  const versioning = readVersioning(reader, raw, `${path}.versioning`);
  const defaults = readWeightAndMaxconn(reader, raw, "defaults", `${path}.defaults`, { weight: 1, maxconn: 0 });
  const powDefaults = readWeightAndMaxconn(reader, raw, "powDefaults", `${path}.powDefaults`, defaults);
  if (!name || !backend || !slotPrefix) return undefined;
  const service: ServiceConfig = { name, backend, slotPrefix, slotClasses, defaults, powDefaults };
  if (powBackend) service.powBackend = powBackend;
  if (tag !== undefined) service.tag = tag;
  if (filter !== undefined && filterProblem(filter) === undefined) service.filter = filter;
  if (grow) service.grow = grow;
  if (versioning) service.versioning = versioning;
  return service;
}

function readVersioning(reader: Reader, parent: Raw, path: string): VersioningConfig | undefined {
  if (parent["versioning"] === undefined || parent["versioning"] === null) return undefined;
  const section = reader.section(parent, "versioning", path, false);
  reader.unknownKeys(section, path, ["compatible", "prefer", "canaryPercent"]);
  return {
    compatible: reader.oneOf(section, "compatible", `${path}.compatible`, ["minor", "major", "exact"] as const, "minor"),
    prefer: reader.oneOf(section, "prefer", `${path}.prefer`, ["newest", "oldest"] as const, "newest"),
    canaryPercent: reader.integer(section, "canaryPercent", `${path}.canaryPercent`, 0, 50, 0),
  };
}

/** Validates a parsed YAML document; throws ConfigError listing every problem. */
export function validateConfig(document: unknown, file: string): HandlerConfig {
  const reader = new Reader();
  const root: Raw = isRecord(document) ? document : {};
  if (!isRecord(document)) reader.problems.push(`(top level): expected a mapping with consul, haproxy and services, got ${describe(document)}`);
  reader.unknownKeys(root, "(top level)", ["consul", "haproxy", "policy", "lockFile", "run", "log", "services"]);

  const consulRaw = reader.section(root, "consul", "consul", false);
  reader.unknownKeys(consulRaw, "consul", ["address", "token", "tokenFile", "caFile", "caPath", "clientCert", "clientKey", "sslVerify", "tlsServerName", "datacenter", "timeoutMs", "aclCanaryService", "blockingWaitSeconds"]);
  const canary = consulRaw["aclCanaryService"];
  if (canary !== undefined && (typeof canary !== "string" || (canary !== "" && !CONSUL_SERVICE_NAME.test(canary)))) {
    reader.problems.push(`consul.aclCanaryService: expected a Consul service name or "", got ${describe(canary)}`);
  }
  const consul: ConsulConfig = {
    timeoutMs: reader.integer(consulRaw, "timeoutMs", "consul.timeoutMs", 100, 600_000, 5000),
    aclCanaryService: typeof canary === "string" ? canary : "consul",
    blockingWaitSeconds: reader.integer(consulRaw, "blockingWaitSeconds", "consul.blockingWaitSeconds", 1, 600, 60),
  };
  const address = reader.string(consulRaw, "address", "consul.address", { hint: "host:port, http://host:port, https://host:port or unix:///path/to/socket" });
  if (address !== undefined) {
    if (normaliseConsulAddress(address) === undefined) reader.problems.push(`consul.address: ${JSON.stringify(address)} is not valid; expected host:port, http://host:port, https://host:port or unix:///path/to/socket`);
    else consul.address = address;
  }
  for (const key of ["token", "tokenFile", "caFile", "caPath", "clientCert", "clientKey"] as const) {
    const value = reader.string(consulRaw, key, `consul.${key}`, { hint: key === "token" ? "the ACL token" : "a file path" });
    if (value !== undefined) consul[key] = value;
  }
  if (consul.token !== undefined && consul.tokenFile !== undefined) reader.problems.push("consul.token and consul.tokenFile: set one, not both");
  const tlsServerName = reader.string(consulRaw, "tlsServerName", "consul.tlsServerName", { pattern: /^[A-Za-z0-9.-]{1,253}$/, hint: "a host name, e.g. consul.example.com" });
  if (tlsServerName !== undefined) consul.tlsServerName = tlsServerName;
  if (consulRaw["sslVerify"] !== undefined && consulRaw["sslVerify"] !== null) consul.sslVerify = reader.boolean(consulRaw, "sslVerify", "consul.sslVerify", true);
  const datacenter = reader.string(consulRaw, "datacenter", "consul.datacenter", { pattern: /^[A-Za-z0-9_-]+$/, hint: "a datacenter name" });
  if (datacenter) consul.datacenter = datacenter;

  const haproxyRaw = reader.section(root, "haproxy", "haproxy", true);
  reader.unknownKeys(haproxyRaw, "haproxy", ["socket", "timeoutMs", "holdDownUntilChecked", "slotsFile"]);
  const haproxy: HaproxyConfig = {
    socket: reader.string(haproxyRaw, "socket", "haproxy.socket", { required: true, hint: "host:port (127.0.0.1:9999) or a unix socket path" }) ?? "",
    timeoutMs: reader.integer(haproxyRaw, "timeoutMs", "haproxy.timeoutMs", 100, 600_000, 5000),
    holdDownUntilChecked: reader.boolean(haproxyRaw, "holdDownUntilChecked", "haproxy.holdDownUntilChecked", true),
  };
  if (haproxyRaw["slotsFile"] !== undefined && haproxyRaw["slotsFile"] !== null) {
    const slotsRaw = reader.section(haproxyRaw, "slotsFile", "haproxy.slotsFile", false);
    reader.unknownKeys(slotsRaw, "haproxy.slotsFile", ["template", "output"]);
    const template = reader.string(slotsRaw, "template", "haproxy.slotsFile.template", { required: true, hint: "the path of the backends template (HAProxy configuration with server-template lines)" });
    const output = reader.string(slotsRaw, "output", "haproxy.slotsFile.output", { required: true, hint: "the path of the file HAProxy loads with an extra -f" });
    if (template && output && template === output) reader.problems.push("haproxy.slotsFile: template and output must be different files (the output is rewritten)");
    if (template && output) haproxy.slotsFile = { template, output };
  }

  const policyRaw = reader.section(root, "policy", "policy", false);
  reader.unknownKeys(policyRaw, "policy", ["warningAs", "drainSeconds", "maxRemovalFraction", "massRemovalMinNodes", "massRemovalHoldSeconds"]);
  const policy: PolicyConfig = {
    warningAs: reader.oneOf(policyRaw, "warningAs", "policy.warningAs", ["ready", "drain"] as const, "ready"),
    drainSeconds: reader.integer(policyRaw, "drainSeconds", "policy.drainSeconds", 0, 86_400, 30),
    maxRemovalFraction: readFraction(reader, policyRaw, "maxRemovalFraction", "policy.maxRemovalFraction", 0.5),
    massRemovalMinNodes: reader.integer(policyRaw, "massRemovalMinNodes", "policy.massRemovalMinNodes", 1, 1_000_000, 3),
    massRemovalHoldSeconds: reader.integer(policyRaw, "massRemovalHoldSeconds", "policy.massRemovalHoldSeconds", 0, 86_400 * 7, 300),
  };

  const runRaw = reader.section(root, "run", "run", false);
  reader.unknownKeys(runRaw, "run", ["listen", "resyncSeconds", "allowNonLoopback"]);
  const run: RunConfig = {
    resyncSeconds: reader.integer(runRaw, "resyncSeconds", "run.resyncSeconds", 1, 86_400, 60),
    allowNonLoopback: reader.boolean(runRaw, "allowNonLoopback", "run.allowNonLoopback", false),
  };
  const listen = reader.string(runRaw, "listen", "run.listen", { pattern: /^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, hint: "host:port, e.g. 127.0.0.1:9701" });
  if (listen) {
    run.listen = listen;
    // Port 0 asks the kernel for a free port (the listener logs the one it got).
    const port = Number(listen.slice(listen.lastIndexOf(":") + 1));
    if (port > PORT.max) reader.problems.push(`run.listen: port ${port} in ${JSON.stringify(listen)} is above ${PORT.max}; use a port from 1 to ${PORT.max} (or 0 for any free one)`);
    if (!run.allowNonLoopback && !isLoopbackListen(listen)) {
      reader.problems.push(
        `run.listen: ${JSON.stringify(listen)} is not a loopback address; /healthz, /metrics and POST /watch have no authentication, so anyone who reaches the port can read the metrics and trigger reconciles. ` +
          "Use 127.0.0.1:<port> (or [::1]:<port>), or set run.allowNonLoopback: true and firewall the port",
      );
    }
  }

  const logRaw = reader.section(root, "log", "log", false);
  reader.unknownKeys(logRaw, "log", ["level"]);
  const log = { level: reader.oneOf(logRaw, "level", "log.level", ["error", "warn", "info", "debug"] as const, "info") };

  const lockFile = reader.string(root, "lockFile", "lockFile", { hint: "a file path", fallback: "/run/lock/consul-haproxy-handler.lock" }) ?? "/run/lock/consul-haproxy-handler.lock";

  const services: ServiceConfig[] = [];
  const rawServices = root["services"];
  if (!Array.isArray(rawServices) || rawServices.length === 0) {
    reader.problems.push(`services: expected a non-empty list of {name, backend, slotPrefix}, got ${rawServices === undefined ? "nothing" : describe(rawServices)}`);
  } else {
    rawServices.forEach((raw: unknown, index: number) => {
      const service = readService(reader, raw, index);
      if (service) services.push(service);
    });
  }
  checkBackendsAreNotShared(services, reader);

  if (reader.problems.length > 0) throw new ConfigError(file, reader.problems);
  return { consul, haproxy, policy, lockFile, run, log, services };
}

/** Two services writing the same slots would undo each other's work on every reconcile. */
function checkBackendsAreNotShared(services: ServiceConfig[], reader: Reader): void {
  const owners = new Map<string, string>();
  for (const service of services) {
    const prefixes = [service.slotPrefix, ...service.slotClasses.map((slotClass) => slotClass.prefix)];
    for (const backend of [service.backend, service.powBackend]) {
      if (!backend) continue;
      for (const prefix of prefixes) {
        const key = `${backend}/${prefix}`;
        const owner = owners.get(key);
        if (owner !== undefined && owner !== service.name) {
          reader.problems.push(`services: slots ${key} are claimed by both ${owner} and ${service.name}; give each service its own backend or slot prefix`);
        }
        owners.set(key, service.name);
      }
    }
    if (service.powBackend === service.backend) reader.problems.push(`services (${service.name}): powBackend must differ from backend`);
    const seen = new Set<string>();
    for (const prefix of prefixes) {
      if (seen.has(prefix)) reader.problems.push(`services (${service.name}): slot prefix ${prefix} is listed twice`);
      seen.add(prefix);
    }
  }
}

/** A fraction from 0 to 1 (YAML number). */
function readFraction(reader: Reader, parent: Raw, key: string, path: string, fallback: number): number {
  const value = parent[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 1) {
    reader.problems.push(`${path}: expected a fraction from 0 to 1 (0.5 = half), got ${describe(value)}`);
    return fallback;
  }
  return value;
}

/** Whether `host:port` binds loopback only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1") return true;
  const octets = host.split(".");
  return octets.length === 4 && octets[0] === "127" && octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255);
}

export function loadConfig(file: string): HandlerConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)}); pass --config <file> or create ${DEFAULT_CONFIG_PATH}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML: ${(error as Error).message}`]);
  }
  return validateConfig(document, file);
}
