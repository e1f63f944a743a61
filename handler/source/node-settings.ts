// Turns a Consul health entry into a validated Endpoint: health folded into
// one word, the address checked to be an IP literal, and per-node settings
// read from service Meta (`haproxy_<key>`), tags (`haproxy.<key>=<value>`)
// and Node Meta, in that order of precedence. A bad value rejects the node
// (with the service ID, key and value) instead of reaching the admin socket.
// The keys themselves, their parsers and where they apply: setting-keys.ts.
import { BlockList, isIP } from "node:net";
import type { ConsulHealthEntry } from "./health-entry.js";
import type { Endpoint, Health, NodeSettings } from "../planner/model.js";
import { isIpLiteral, isWithin, PORT } from "../haproxy-runtime-api/index.js";
import { applySetting, isSettingKey, SETTING_KEYS, type SettingKey } from "./setting-keys.js";
import { closestWord } from "../config/did-you-mean.js";

export interface Rejection {
  serviceId: string;
  key: string;
  value: string;
  reason: string;
}

/**
 * ignoredKeys: `meta:<key>` / `tag:<key>` / `node-meta:<key>` of unknown haproxy settings.
 * warnings: one sentence per ignored key or near-miss form, with a "did you mean" where one is close.
 */
export type EndpointResult = { ok: true; endpoint: Endpoint; ignoredKeys: string[]; warnings: string[] } | { ok: false; rejection: Rejection };

const META_PREFIX = "haproxy_";
const TAG_PREFIX = "haproxy.";

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

/** The known setting closest to a mistyped one (case, '-', or up to two letters off). */
export function closestSettingKey(key: string): SettingKey | undefined {
  return closestWord(key, SETTING_KEYS, (text) => text.toLowerCase().replace(/-/g, "_"));
}

/** A prefix that is almost `haproxy_` / `haproxy.` (another separator, other case): the rest of the key, else undefined. */
function nearPrefix(text: string): { rest: string } | undefined {
  const match = /^haproxy[._:-](.+)$/i.exec(text);
  return match ? { rest: match[1] ?? "" } : undefined;
}

/** Where each setting came from, highest precedence first, and what was ignored with a suggestion. */
function collectRawSettings(entry: ConsulHealthEntry): { values: Map<SettingKey, string>; unknown: string[]; warnings: string[] } {
  const values = new Map<SettingKey, string>();
  const unknown: string[] = [];
  const warnings: string[] = [];
  const suggestion = (key: string, form: (key: SettingKey) => string): string => {
    const close = closestSettingKey(key);
    return close ? `; did you mean ${JSON.stringify(form(close))}?` : `; known settings: ${SETTING_KEYS.join(", ")}`;
  };
  const take = (key: string, value: string, where: string, form: (key: SettingKey) => string, shown: string): void => {
    if (!isSettingKey(key)) {
      unknown.push(`${where}:${key}`);
      warnings.push(`${shown}: unknown haproxy setting, ignored${suggestion(key, form)}`);
      return;
    }
    if (!values.has(key)) values.set(key, value);
  };
  const metaForm = (key: SettingKey) => `${META_PREFIX}${key}`;
  const readMeta = (meta: Record<string, string>, where: string, label: string): void => {
    for (const [key, value] of Object.entries(meta)) {
      if (key.startsWith(META_PREFIX)) {
        take(key.slice(META_PREFIX.length), value, where, metaForm, `${label} ${JSON.stringify(key)}`);
        continue;
      }
      // HAProxy_maxconn, haproxy-maxconn: not read, but clearly meant.
      const near = nearPrefix(key);
      if (near && isSettingKey(closestSettingKey(near.rest) ?? "")) {
        warnings.push(`${label} ${JSON.stringify(key)}: not read (settings are ${META_PREFIX}<key>); did you mean ${JSON.stringify(metaForm(closestSettingKey(near.rest) as SettingKey))}?`);
      }
    }
  };
  // Service Meta first, then tags, then Node Meta: the first one seen wins.
  readMeta(entry.Service.Meta, "meta", "Meta");
  for (const tag of entry.Service.Tags) {
    const equals = tag.indexOf("=");
    const tagForm = (key: SettingKey) => `${TAG_PREFIX}${key}${equals >= 0 ? tag.slice(equals) : "=<value>"}`;
    if (!tag.startsWith(TAG_PREFIX)) {
      // haproxy_maxconn=9, HAProxy.maxconn=9, haproxy-weight=2: the tag form is haproxy.<key>=<value>.
      const near = nearPrefix(equals >= 0 ? tag.slice(0, equals) : tag);
      const close = near ? closestSettingKey(near.rest) : undefined;
      if (close) warnings.push(`tag ${JSON.stringify(tag)}: not read (the tag form is ${TAG_PREFIX}<key>=<value>); did you mean ${JSON.stringify(tagForm(close))}?`);
      continue;
    }
    if (equals < 0) {
      unknown.push(`tag:${tag.slice(TAG_PREFIX.length)}`);
      const close = closestSettingKey(tag.slice(TAG_PREFIX.length).replace(/[:\s].*$/, ""));
      warnings.push(`tag ${JSON.stringify(tag)}: no '=' (the tag form is ${TAG_PREFIX}<key>=<value>), ignored${close ? `; did you mean ${JSON.stringify(`${TAG_PREFIX}${close}=<value>`)}?` : ""}`);
      continue;
    }
    take(tag.slice(TAG_PREFIX.length, equals), tag.slice(equals + 1), "tag", tagForm, `tag ${JSON.stringify(tag)}`);
  }
  readMeta(entry.Node.Meta, "node-meta", "Node Meta");
  return { values, unknown, warnings };
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

/**
 * Verdicts already reached, per address text. A blocking query hands back
 * every instance of a service on every change, and BlockList.check builds a
 * SocketAddress per call: with 1,000 instances that was most of the time
 * spent validating an answer. Bounded so a churn of addresses cannot grow it.
 */
const nodeAddressVerdicts = new Map<string, boolean>();
const MAX_REMEMBERED_VERDICTS = 100_000;

function isNoNodeAddress(address: string): boolean {
  const known = nodeAddressVerdicts.get(address);
  if (known !== undefined) return known;
  // Only the family is asked here: whether the text is an address at all is isIpLiteral's question.
  const family = isIP(address);
  const blocked = family !== 0 && NO_NODE_ADDRESSES.check(address, family === 4 ? "ipv4" : "ipv6");
  if (nodeAddressVerdicts.size >= MAX_REMEMBERED_VERDICTS) nodeAddressVerdicts.clear();
  nodeAddressVerdicts.set(address, blocked);
  return blocked;
}

/** Why an IP literal cannot be a node's address, or undefined when it can. */
export function notANodeAddress(address: string): string | undefined {
  if (!isNoNodeAddress(address)) return undefined;
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
  // Host names, ports, zone IDs, spaces and ';' are all refused here.
  if (!isIpLiteral(address)) {
    return reject("address", address, "expected an IPv4 or IPv6 literal without a zone (host names are not resolved)");
  }
  const unusable = notANodeAddress(address);
  if (unusable !== undefined) return reject("address", address, unusable);
  const port = entry.Service.Port;
  if (!isWithin(port, PORT)) return reject("port", String(port), `expected a port from ${PORT.min} to ${PORT.max}`);

  const { values, unknown, warnings } = collectRawSettings(entry);
  const settings: NodeSettings = { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" };
  for (const [key, value] of values) {
    const reason = applySetting(settings, key, value);
    if (reason !== undefined) return reject(key, value, reason);
  }
  return {
    ok: true,
    ignoredKeys: unknown,
    warnings,
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
