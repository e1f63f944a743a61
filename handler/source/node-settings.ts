// Turns a Consul health entry into a validated Endpoint: health folded into
// one word, the address checked to be an IP literal, and per-node settings
// read from service Meta (`haproxy_<key>`), tags (`haproxy.<key>=<value>`)
// and Node Meta, in that order of precedence. A bad value rejects the node
// (with the service ID, key and value) instead of reaching the admin socket.
import { BlockList, isIP } from "node:net";
import type { ConsulHealthEntry } from "./health-entry.js";
import type { Endpoint, Health, NodeSettings, PowMode, Scheme } from "../planner/model.js";
import { parseVersion } from "../planner/versions.js";

export const SETTING_KEYS = ["pow", "maxconn", "pow_maxconn", "weight", "scheme", "sslverify", "timeout", "version"] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

export interface Rejection {
  serviceId: string;
  key: string;
  value: string;
  reason: string;
}

export type EndpointResult = { ok: true; endpoint: Endpoint; ignoredKeys: string[] } | { ok: false; rejection: Rejection };

const META_PREFIX = "haproxy_";
const TAG_PREFIX = "haproxy.";
const WHOLE_NUMBER = /^\d{1,7}$/;
const TIMEOUT_CLASS = /^[a-z0-9_-]{1,32}$/;

/** Consul marks maintenance with these critical checks. */
function isMaintenanceCheck(checkId: string): boolean {
  return checkId === "_node_maintenance" || checkId.startsWith("_service_maintenance:");
}

/**
 * Folds every check of an instance (its own and the node's, serfHealth
 * included) into one word. A real failure outranks maintenance: maintenance
 * drains gently, but a critical node must not take traffic at all.
 */
export function foldHealth(checks: ConsulHealthEntry["Checks"]): Health {
  let maintenance = false;
  let warning = false;
  for (const check of checks) {
    if (isMaintenanceCheck(check.CheckID)) {
      maintenance = true;
    } else if (check.Status === "critical") {
      return "critical";
    } else if (check.Status === "warning") {
      warning = true;
    } else if (check.Status !== "passing") {
      // An unknown status is not proof of health.
      return "critical";
    }
  }
  if (maintenance) return "maintenance";
  return warning ? "warning" : "passing";
}

/** Where each setting came from, highest precedence first. */
function collectRawSettings(entry: ConsulHealthEntry): { values: Map<string, string>; unknown: string[] } {
  const values = new Map<string, string>();
  const unknown: string[] = [];
  const known = (key: string): boolean => (SETTING_KEYS as readonly string[]).includes(key);
  const take = (key: string, value: string, where: string): void => {
    if (!known(key)) {
      unknown.push(`${where}:${key}`);
      return;
    }
    if (!values.has(key)) values.set(key, value);
  };
  // Service Meta first, then tags, then Node Meta: the first one seen wins.
  for (const [key, value] of Object.entries(entry.Service.Meta)) {
    if (key.startsWith(META_PREFIX)) take(key.slice(META_PREFIX.length), value, "meta");
  }
  for (const tag of entry.Service.Tags) {
    if (!tag.startsWith(TAG_PREFIX)) continue;
    const equals = tag.indexOf("=");
    if (equals < 0) {
      unknown.push(`tag:${tag.slice(TAG_PREFIX.length)}`);
      continue;
    }
    take(tag.slice(TAG_PREFIX.length, equals), tag.slice(equals + 1), "tag");
  }
  for (const [key, value] of Object.entries(entry.Node.Meta)) {
    if (key.startsWith(META_PREFIX)) take(key.slice(META_PREFIX.length), value, "node-meta");
  }
  return { values, unknown };
}

type SettingParse<T> = { ok: true; value: T } | { ok: false; reason: string };

function parseWholeNumber(value: string, max: number): SettingParse<number> {
  if (!WHOLE_NUMBER.test(value)) return { ok: false, reason: `expected a whole number from 0 to ${max}` };
  const number = Number(value);
  if (number > max) return { ok: false, reason: `expected a whole number from 0 to ${max}` };
  return { ok: true, value: number };
}

function parseBoolean(value: string): SettingParse<boolean> {
  if (["true", "1", "yes", "on"].includes(value)) return { ok: true, value: true };
  if (["false", "0", "no", "off"].includes(value)) return { ok: true, value: false };
  return { ok: false, reason: "expected true or false (or 1/0)" };
}

function parsePow(value: string): SettingParse<PowMode> {
  if (value === "only") return { ok: true, value: "only" };
  const flag = parseBoolean(value);
  if (!flag.ok) return { ok: false, reason: "expected true, false or only" };
  return { ok: true, value: flag.value ? "true" : "false" };
}

function parseScheme(value: string): SettingParse<Scheme> {
  if (value === "http" || value === "https") return { ok: true, value };
  return { ok: false, reason: "expected http or https" };
}

/**
 * Addresses that are no node's: the unspecified address (0.0.0.0/8, ::),
 * multicast (224.0.0.0/4, ff00::/8), the broadcast address, and their
 * IPv4-mapped IPv6 forms. HAProxy would point a slot at the load balancer
 * itself (0.0.0.0) or at nothing, and 0.0.0.0 also reads back as a free
 * slot, so such a node would be refilled into a new slot on every reconcile.
 */
const NO_NODE_ADDRESSES = (() => {
  const list = new BlockList();
  list.addSubnet("0.0.0.0", 8, "ipv4");
  list.addSubnet("224.0.0.0", 4, "ipv4");
  list.addAddress("255.255.255.255", "ipv4");
  list.addAddress("::", "ipv6");
  list.addSubnet("ff00::", 8, "ipv6");
  list.addSubnet("::ffff:0.0.0.0", 104, "ipv6");
  list.addSubnet("::ffff:224.0.0.0", 100, "ipv6");
  list.addAddress("::ffff:255.255.255.255", "ipv6");
  return list;
})();

/** Why an IP literal cannot be a node's address, or undefined when it can. */
export function notANodeAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  if (!NO_NODE_ADDRESSES.check(address, family === 4 ? "ipv4" : "ipv6")) return undefined;
  return "an unspecified, multicast or broadcast address is no node's address (0.0.0.0 and :: would point the slot at the load balancer itself); register the node's own IP";
}

/** The address HAProxy will connect to: Service.Address, or Node.Address when empty. */
export function entryAddress(entry: ConsulHealthEntry): string {
  return entry.Service.Address !== "" ? entry.Service.Address : entry.Node.Address;
}

/** Validates one entry into an Endpoint, or says exactly why the node is left out. */
export function endpointFromEntry(entry: ConsulHealthEntry): EndpointResult {
  const serviceId = entry.Service.ID;
  const reject = (key: string, value: string, reason: string): EndpointResult => ({ ok: false, rejection: { serviceId, key, value, reason } });

  const address = entryAddress(entry);
  // isIP rejects host names, ports, zone IDs with odd characters and anything with spaces or ';'.
  if (isIP(address) === 0 || address.includes("%")) {
    return reject("address", address, "expected an IPv4 or IPv6 literal without a zone (host names are not resolved)");
  }
  const unusable = notANodeAddress(address);
  if (unusable !== undefined) return reject("address", address, unusable);
  const port = entry.Service.Port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return reject("port", String(port), "expected a port from 1 to 65535");

  const { values, unknown } = collectRawSettings(entry);
  const settings: NodeSettings = { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" };
  for (const [key, value] of values) {
    switch (key as SettingKey) {
      case "pow": {
        const parsed = parsePow(value);
        if (!parsed.ok) return reject(key, value, parsed.reason);
        settings.pow = parsed.value;
        break;
      }
      case "maxconn":
      case "pow_maxconn": {
        const parsed = parseWholeNumber(value, 1_000_000);
        if (!parsed.ok) return reject(key, value, parsed.reason);
        if (key === "maxconn") settings.maxconn = parsed.value;
        else settings.powMaxconn = parsed.value;
        break;
      }
      case "weight": {
        const parsed = parseWholeNumber(value, 256);
        if (!parsed.ok) return reject(key, value, parsed.reason);
        settings.weight = parsed.value;
        break;
      }
      case "scheme": {
        const parsed = parseScheme(value);
        if (!parsed.ok) return reject(key, value, parsed.reason);
        settings.scheme = parsed.value;
        break;
      }
      case "sslverify": {
        const parsed = parseBoolean(value);
        if (!parsed.ok) return reject(key, value, parsed.reason);
        settings.sslVerify = parsed.value;
        break;
      }
      case "timeout": {
        if (!TIMEOUT_CLASS.test(value)) return reject(key, value, "expected a timeout class name (a-z, 0-9, '_' or '-')");
        settings.timeoutClass = value;
        break;
      }
      case "version": {
        if (!parseVersion(value)) return reject(key, value, "expected a semantic version MAJOR.MINOR.PATCH with an optional pre-release (1.4.2, 2.0.0-rc.1), at most 64 characters");
        settings.version = value;
        break;
      }
    }
  }
  return {
    ok: true,
    ignoredKeys: unknown,
    endpoint: {
      serviceName: entry.Service.Service,
      serviceId,
      node: entry.Node.Node,
      address,
      port,
      health: foldHealth(entry.Checks),
      settings,
    },
  };
}
