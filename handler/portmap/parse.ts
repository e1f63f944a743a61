// Parses the KV prefix's keys (Moirai's names, syntax and defaults) into a
// LoadBalancerSpec, or refuses the whole of it with one PortmapError that names
// the key or entry, the part, and what to do. Pure: the caller reads Consul.
import {
  BALANCE_ALGORITHMS,
  DEFAULT_ACME_DIRECTORY,
  DEFAULT_BALANCE,
  DEFAULT_MAX_RS,
  DEFAULT_METRICS_PORT,
  DEFAULT_TIMEOUTS,
  ENTRY_TYPES,
  MAX_RS_LIMIT,
  PORTMAP_KEYS,
  isHttpMode,
  terminatesTls,
  type AcmeSettings,
  type BalanceAlgorithm,
  type EntryType,
  type LoadBalancerSpec,
  type PortmapEntry,
  type PortmapKey,
  type ReservedPorts,
  type Syslog,
  type Timeouts,
} from "./spec.js";
import { isIP } from "node:net";
import { PATH_PREFIX, SERVICE_NAME, decimalIn, durationMs, isHostName, isIpPrefix, portNumber, showCharacter, showValue } from "./fields.js";

export class PortmapError extends Error {
  constructor(
    /** The KV key the error is in, e.g. "portmap". */
    readonly key: PortmapKey | string,
    message: string,
  ) {
    super(message);
    this.name = "PortmapError";
  }
}

export interface ParseOptions {
  /** The KV prefix the keys were read under; stripped from each key when present. */
  prefix?: string;
  /** Ports the load balancer uses already (stats, admin, metrics, handler). */
  reservedPorts?: ReservedPorts;
}

/** Characters an entry may contain at all; each field then has its own whitelist. */
const ENTRY_CHARACTERS = /^[A-Za-z0-9:/{},._~+-]$/;
const OPTION_NAMES = ["check", "port", "rise", "fall", "balance", "sticky", "host", "path", "upgrade", "inter", "slots", "health"] as const;
type OptionName = (typeof OPTION_NAMES)[number];

export function parsePortmapKv(kv: ReadonlyMap<string, string | null>, options: ParseOptions = {}): LoadBalancerSpec {
  const values = keyValues(kv, options.prefix ?? "");
  const maxRs = parseMaxRs(values.get("max_rs"));
  const metricsAcl = parseMetricsAcl(values.get("metrics_acl"));
  const metricsPort = parseMetricsPort(values.get("metrics_port"));
  const entries = parsePortmap(values.get("portmap") ?? "", maxRs);
  const spec: LoadBalancerSpec = {
    entries,
    maxRs,
    timeouts: parseTimeouts(values.get("timeouts")),
    metrics: { port: metricsPort, acl: metricsAcl },
    certificateNames: parseCertificateNames(values.get("certificate_name")),
    acme: parseAcme(values),
  };
  const syslog = parseSyslog(values.get("syslog"));
  if (syslog !== undefined) spec.syslog = syslog;
  checkListeners(spec, options.reservedPorts ?? {});
  return spec;
}

/** The known keys' values, trimmed; an empty value counts as absent. */
function keyValues(kv: ReadonlyMap<string, string | null>, prefix: string): Map<PortmapKey, string> {
  const values = new Map<PortmapKey, string>();
  for (const [fullKey, raw] of kv) {
    const name = fullKey.startsWith(prefix) ? fullKey.slice(prefix.length) : fullKey;
    const value = (raw ?? "").trim();
    // A recurse read also returns the folder's own key ("" or "sub/") with no value.
    if ((name === "" || name.endsWith("/")) && value === "") continue;
    if (!(PORTMAP_KEYS as readonly string[]).includes(name)) {
      throw new PortmapError(name, `unknown key ${showValue(fullKey)} under the load balancer's KV prefix: the keys are ${PORTMAP_KEYS.join(", ")}; rename or delete it`);
    }
    if (value !== "") values.set(name as PortmapKey, value);
  }
  return values;
}

function parseMaxRs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX_RS;
  const maxRs = decimalIn(value, 1, MAX_RS_LIMIT);
  if (maxRs === undefined) throw new PortmapError("max_rs", `max_rs ${showValue(value)} is not a whole number from 1 to ${MAX_RS_LIMIT}: set the slots per backend (default ${DEFAULT_MAX_RS})`);
  return maxRs;
}

function parseMetricsPort(value: string | undefined): number {
  if (value === undefined) return DEFAULT_METRICS_PORT;
  const port = portNumber(value);
  if (port === undefined) throw new PortmapError("metrics_port", `metrics_port ${showValue(value)} is not a port from 1 to 65535: set a free port (default ${DEFAULT_METRICS_PORT})`);
  return port;
}

function parseMetricsAcl(value: string | undefined): string[] {
  if (value === undefined) return [];
  const prefixes = splitList(value);
  for (const prefix of prefixes) {
    if (!isIpPrefix(prefix)) throw new PortmapError("metrics_acl", `metrics_acl: ${showValue(prefix)} is not an IP address or prefix: write e.g. 10.0.0.0/8 or 2001:db8::/32, separated by commas or spaces`);
  }
  return prefixes;
}

function parseSyslog(value: string | undefined): Syslog | undefined {
  if (value === undefined) return undefined;
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon);
  const port = portNumber(value.slice(colon + 1));
  // An IPv4 address only: HAProxy resolves a log server's name when it loads the
  // configuration, so a name that does not resolve then would fail the reload.
  if (colon < 0 || port === undefined || isIP(host) !== 4) {
    throw new PortmapError("syslog", `syslog ${showValue(value)} is not HOST:PORT: write the syslog server's IPv4 address and port, e.g. 10.0.0.5:514 (not a name: HAProxy resolves it at every reload)`);
  }
  return { host, port };
}

function parseCertificateNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names = splitList(value);
  for (const name of names) {
    const bare = name.startsWith("*.") ? name.slice(2) : name;
    if (!isHostName(bare.toLowerCase())) throw new PortmapError("certificate_name", `certificate_name: ${showValue(name)} is not a DNS name: list the certificates' names (the first is the subject), separated by commas`);
  }
  return names;
}

// C0, DEL, C1 and the Unicode line and paragraph separators: none belongs in a
// URL, an address or a path, and each could break a log line or a record.
function isControlCharacter(character: string): boolean {
  const code = character.codePointAt(0) ?? 0;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}
// The common subset of RFC 5321's dot-atom: CAs refuse much of the rest, and none of it is needed.
const EMAIL_LOCAL_PART = /^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*$/;

function refuseControlCharacters(key: PortmapKey, value: string): void {
  const found = [...value].find(isControlCharacter);
  if (found !== undefined) throw new PortmapError(key, `${key}: ${showCharacter(found)} is not allowed: write the value on one line, without control characters`);
}

function parseAcme(values: ReadonlyMap<PortmapKey, string>): AcmeSettings {
  const acme: AcmeSettings = { directory: parseAcmeDirectory(values.get("acme_directory")) };
  const email = values.get("acme_email");
  if (email !== undefined) acme.email = parseAcmeEmail(email);
  const caFile = values.get("acme_ca_file");
  if (caFile !== undefined) acme.caFile = parseAcmeCaFile(caFile);
  return acme;
}

function parseAcmeDirectory(value: string | undefined): string {
  if (value === undefined) return DEFAULT_ACME_DIRECTORY;
  refuseControlCharacters("acme_directory", value);
  const usage = `write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, ${DEFAULT_ACME_DIRECTORY})`;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // Printable ASCII only (an IDN host in its xn-- form): what the parser keeps is what the CA is asked.
  if (url === undefined || !/^[\x21-\x7e]+$/.test(value) || url.protocol !== "https:" || url.hostname === "") {
    throw new PortmapError("acme_directory", `acme_directory ${showValue(value)} is not an https URL: ${usage}`);
  }
  // A password in the URL would show in status and in logs.
  if (url.username !== "" || url.password !== "") throw new PortmapError("acme_directory", `acme_directory ${showValue(`${url.protocol}//...@${url.host}`)} has credentials in it: an ACME directory needs none; ${usage}`);
  if (url.hash !== "") throw new PortmapError("acme_directory", `acme_directory ${showValue(value)} has a fragment ('#'): ${usage}`);
  return value;
}

function parseAcmeEmail(value: string): string {
  refuseControlCharacters("acme_email", value);
  const at = value.lastIndexOf("@");
  const local = value.slice(0, at);
  const domain = value.slice(at + 1).toLowerCase();
  if (at < 0 || value.length > 254 || local.length > 64 || !EMAIL_LOCAL_PART.test(local) || !domain.includes(".") || !isHostName(domain)) {
    throw new PortmapError("acme_email", `acme_email ${showValue(value)} is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`);
  }
  return value;
}

function parseAcmeCaFile(value: string): string {
  refuseControlCharacters("acme_ca_file", value);
  const segments = value.split("/").slice(1);
  if (!value.startsWith("/") || value.length > 4096 || segments.some((segment) => segment === "." || segment === "..")) {
    throw new PortmapError("acme_ca_file", `acme_ca_file ${showValue(value)} is not an absolute path: write the path of the CA certificate (PEM) on the load balancer from '/', without . or .. segments, e.g. /etc/consul-haproxy-handler/acme-ca.pem`);
  }
  return value;
}

const TIMEOUT_FIELD = /^\s*["']?(queue|connect|client|server)["']?\s*:\s*([0-9]{1,9})\s*$/;

/** Moirai's JSON5 object of milliseconds, e.g. `{connect: 3000, "server": 60000}`; missing fields keep their defaults. */
function parseTimeouts(value: string | undefined): Timeouts {
  const timeouts: Timeouts = { ...DEFAULT_TIMEOUTS };
  if (value === undefined) return timeouts;
  const usage = "write a JSON object of milliseconds with the fields queue, connect, client and server, e.g. {\"connect\": 3000}";
  if (!value.startsWith("{") || !value.endsWith("}")) throw new PortmapError("timeouts", `timeouts ${showValue(value)} is not an object in braces: ${usage}`);
  const body = value.slice(1, -1).trim();
  const fields = body === "" ? [] : body.replace(/,\s*$/, "").split(",");
  const seen = new Set<string>();
  for (const field of fields) {
    const match = TIMEOUT_FIELD.exec(field);
    if (match === null) throw new PortmapError("timeouts", `timeouts: ${showValue(field.trim())} is not a field: ${usage}`);
    const name = match[1] as keyof Timeouts;
    const ms = Number(match[2]);
    if (seen.has(name)) throw new PortmapError("timeouts", `timeouts: ${name} is given twice: keep one`);
    if (ms > 86_400_000) throw new PortmapError("timeouts", `timeouts: ${name} ${ms} ms is more than a day: give milliseconds from 0 (HAProxy's default) to 86400000`);
    seen.add(name);
    timeouts[name] = ms;
  }
  return timeouts;
}

/** Comma- or space-separated words; empty words (", ") are skipped. */
function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter((word) => word !== "");
}

/** Splits the portmap at commas and spaces outside braces. */
function splitEntries(portmap: string): string[] {
  const entries: string[] = [];
  let current = "";
  let depth = 0;
  for (const character of portmap) {
    if (depth === 0 && (character === "," || character === " ")) {
      if (current !== "") entries.push(current);
      current = "";
      continue;
    }
    if (character === "{") depth += 1;
    if (character === "}") depth = Math.max(0, depth - 1);
    current += character;
  }
  if (current !== "") entries.push(current);
  return entries;
}

function parsePortmap(portmap: string, maxRs: number): PortmapEntry[] {
  return splitEntries(portmap).map((text, index) => parseEntry(text, index + 1, maxRs));
}

const ENTRY_USAGE = "write <type>://<listen port>:<service>[:<port>][{option:value,...}]";

function parseEntry(text: string, number: number, maxRs: number): PortmapEntry {
  const fail = (part: string, problem: string): never => entryError(text, number, part, problem);
  for (const character of text) {
    if (!ENTRY_CHARACTERS.test(character)) fail("character", `${showCharacter(character)} is not allowed: an entry has letters, digits and : / { } , . _ ~ + - only; separate entries with commas or spaces`);
  }
  const schemeEnd = text.indexOf("://");
  if (schemeEnd < 0) fail("syntax", `no "://" after the type: ${ENTRY_USAGE}`);
  const type = text.slice(0, schemeEnd);
  if (!(ENTRY_TYPES as readonly string[]).includes(type)) fail("type", `unknown type ${showValue(type)}: use one of ${ENTRY_TYPES.join(", ")}`);
  const rest = text.slice(schemeEnd + 3);
  const braceStart = rest.indexOf("{");
  const address = braceStart < 0 ? rest : rest.slice(0, braceStart);
  const optionText = braceStart < 0 ? undefined : rest.slice(braceStart);
  if (optionText !== undefined && (!optionText.endsWith("}") || optionText.slice(1, -1).includes("{") || optionText.slice(1, -1).includes("}"))) {
    fail("options", `the options must be one {...} at the end of the entry: ${ENTRY_USAGE}`);
  }
  const parts = address.split(":");
  if (parts.length < 2 || parts.length > 3) fail("syntax", `expected <listen port>:<service>[:<port>] after "${type}://": ${ENTRY_USAGE}`);
  const [listenText = "", service = "", portText] = parts;
  const listenPort = portNumber(listenText);
  if (listenPort === undefined) fail("listen port", `${showValue(listenText)} is not a port from 1 to 65535`);
  if (!SERVICE_NAME.test(service)) fail("service", `${showValue(service)} is not a Consul service name: letters, digits, '_' and '-', starting with a letter or digit, at most 63`);
  const entry: PortmapEntry = {
    text,
    type: type as EntryType,
    listenPort: listenPort as number,
    service,
    backendName: `pm_${listenPort}_${service}`,
    check: {},
    balance: DEFAULT_BALANCE,
    upgradeWebsocket: false,
    slots: maxRs,
    health: "passing",
  };
  if (portText !== undefined) {
    const servicePort = portNumber(portText);
    if (servicePort === undefined) fail("service port", `${showValue(portText)} is not a port from 1 to 65535 (leave ":<port>" out to use the instances' own port)`);
    entry.servicePort = servicePort;
  }
  if (optionText !== undefined) applyOptions(entry, optionText.slice(1, -1), fail);
  return entry;
}

type Fail = (part: string, problem: string) => never;

function applyOptions(entry: PortmapEntry, body: string, fail: Fail): void {
  const seen = new Set<string>();
  for (const option of body.split(",")) {
    if (option === "") fail("options", `an empty option: write {option:value,...} without extra commas`);
    const colon = option.indexOf(":");
    const name = colon < 0 ? option : option.slice(0, colon);
    const value = colon < 0 ? "" : option.slice(colon + 1);
    if (!(OPTION_NAMES as readonly string[]).includes(name)) fail(`option ${showValue(name)}`, `unknown option: use one of ${OPTION_NAMES.join(", ")}`);
    if (colon < 0 || value === "") fail(`option ${name}`, `no value: write ${name}:<value>`);
    if (seen.has(name)) fail(`option ${name}`, "given twice: keep one");
    seen.add(name);
    applyOption(entry, name as OptionName, value, (problem) => fail(`option ${name}`, problem));
  }
}

function applyOption(entry: PortmapEntry, name: OptionName, value: string, fail: (problem: string) => never): void {
  const httpOnly = (what: string): void => {
    if (!isHttpMode(entry.type)) fail(`${what} needs an HTTP type (http, https, https+insecure, https-http), not ${entry.type}`);
  };
  const whole = (min: number, max: number): number => decimalIn(value, min, max) ?? fail(`${showValue(value)} is not a whole number from ${min} to ${max}`);
  switch (name) {
    case "check":
      if (!PATH_PREFIX.test(value)) fail(`${showValue(value)} is not a path: write check:/health ('/' then letters, digits and . _ ~ / - only)`);
      entry.check.path = value;
      return;
    case "port":
      entry.check.port = portNumber(value) ?? fail(`${showValue(value)} is not a port from 1 to 65535 (the port health checks go to)`);
      return;
    case "rise":
      entry.check.rise = whole(1, 1000);
      return;
    case "fall":
      entry.check.fall = whole(1, 1000);
      return;
    case "inter":
      entry.check.interMs = durationMs(value) ?? fail(`${showValue(value)} is not a duration from 1ms to 24h: write e.g. 500ms, 2s, 1m`);
      return;
    case "slots":
      entry.slots = whole(1, MAX_RS_LIMIT);
      return;
    case "balance":
      if (!(BALANCE_ALGORITHMS as readonly string[]).includes(value)) fail(`unknown algorithm ${showValue(value)}: use one of ${BALANCE_ALGORITHMS.join(", ")}`);
      if (value === "uri") httpOnly("balance:uri");
      entry.balance = value as BalanceAlgorithm;
      return;
    case "sticky":
      if (value !== "cookie" && value !== "source") fail(`${showValue(value)}: use sticky:cookie (HTTP types) or sticky:source`);
      if (value === "cookie") httpOnly("sticky:cookie");
      entry.sticky = value;
      return;
    case "host":
      httpOnly("a host route");
      if (!isHostName(value.toLowerCase())) fail(`${showValue(value)} is not a DNS host name: letters, digits, '-' and '.', no port`);
      entry.host = value.toLowerCase();
      return;
    case "path":
      httpOnly("a path route");
      if (!PATH_PREFIX.test(value)) fail(`${showValue(value)} is not a path prefix: write path:/api/ ('/' then letters, digits and . _ ~ / - only)`);
      entry.path = value;
      return;
    case "upgrade":
      if (value !== "websocket") fail(`${showValue(value)}: the only upgrade is upgrade:websocket`);
      httpOnly("upgrade:websocket");
      entry.upgradeWebsocket = true;
      return;
    case "health":
      if (value !== "passing" && value !== "warning") fail(`${showValue(value)}: use health:passing (default) or health:warning (warning instances serve too)`);
      entry.health = value;
      return;
  }
}

/**
 * The route an HTTP entry takes on its listener, as the key of the listener's map:
 * `<host><path>` in the host map, or `<path>` in the path map; no route is the
 * path map's "/" (every request path begins with it): the listener's default.
 */
export function routeKey(entry: PortmapEntry): { map: "host" | "path"; key: string } {
  const path = entry.path ?? "/";
  return entry.host === undefined ? { map: "path", key: path } : { map: "host", key: `${entry.host}${path}` };
}

/** Ports taken twice, shared listeners that cannot be shared, conflicting routes. */
function checkListeners(spec: LoadBalancerSpec, reserved: ReservedPorts): void {
  const taken = new Map<number, string>();
  for (const [what, port] of Object.entries(reserved)) if (port !== undefined) taken.set(port, `the ${what} port`);
  if (spec.metrics.acl.length > 0) {
    const owner = taken.get(spec.metrics.port);
    if (owner !== undefined) throw new PortmapError("metrics_port", `metrics_port ${spec.metrics.port} is ${owner} already: set another metrics_port`);
    taken.set(spec.metrics.port, "metrics_port");
  }
  const byPort = new Map<number, { entry: PortmapEntry; number: number }[]>();
  spec.entries.forEach((entry, index) => {
    const number = index + 1;
    const owner = taken.get(entry.listenPort);
    if (owner !== undefined) entryError(entry.text, number, "listen port", `${entry.listenPort} is ${owner} already: choose another listen port`);
    const group = byPort.get(entry.listenPort) ?? [];
    for (const other of group) checkShared(other, { entry, number });
    group.push({ entry, number });
    byPort.set(entry.listenPort, group);
  });
}

function checkShared(first: { entry: PortmapEntry; number: number }, second: { entry: PortmapEntry; number: number }): void {
  const { entry, number } = second;
  const port = entry.listenPort;
  const other = `entry ${first.number} ${showValue(first.entry.text)}`;
  if (!isHttpMode(entry.type) || !isHttpMode(first.entry.type)) {
    entryError(entry.text, number, "listen port", `${port} is taken by ${other}: a tcp listener takes one entry; choose another listen port`);
  }
  if (terminatesTls(entry.type) !== terminatesTls(first.entry.type)) {
    entryError(entry.text, number, "listen port", `${port} is taken by ${other}, and one of them ends TLS and the other does not: use http for both or https types for both, or another listen port`);
  }
  if (entry.backendName === first.entry.backendName) {
    entryError(entry.text, number, "service", `${entry.service} is on port ${port} already in ${other}: one entry per service and listener; use another listen port`);
  }
  const route = routeKey(entry);
  const otherRoute = routeKey(first.entry);
  if (route.map === otherRoute.map && route.key === otherRoute.key) {
    const shown = entry.host === undefined && entry.path === undefined ? "no host or path (the listener's default)" : `the same route ${showValue(route.key)}`;
    entryError(entry.text, number, "route", `${other} has ${shown} on port ${port}: give one of them a different host: or path:`);
  }
  if (entry.upgradeWebsocket && first.entry.upgradeWebsocket) {
    entryError(entry.text, number, "option upgrade", `${other} takes WebSocket upgrades on port ${port} already: keep upgrade:websocket on one entry per listener`);
  }
}

function entryError(text: string, number: number, part: string, problem: string): never {
  throw new PortmapError("portmap", `portmap entry ${number} ${showValue(text)}: ${part}: ${problem}`);
}
