// services[] and their sub-objects. Backend names, slot prefixes, weights,
// maxconn and `add server` keywords reach the admin socket: they are checked
// with the runtime client's own rules (haproxy-runtime-api/limits.ts), never
// with a copy of them.
import { isKeyword, KEYWORD_RULE, MAXCONN, NAME_PATTERN, NAME_RULE, WEIGHT } from "../../haproxy-runtime-api/index.js";
import { filterProblem } from "../consul-filter.js";
import type { GrowConfig, ServiceConfig, SlotClassConfig, VersioningConfig, WeightAndMaxconn } from "../types.js";
import { CONSUL_SERVICE_NAME } from "./consul.js";
import { boolean, describe, integer, isRecord, listOf, oneOf, readTable, section, text, type Field, type Table } from "./field.js";

/** A slot class's timeout name, which a node asks for with its `timeout` setting. */
export const TIMEOUT_CLASS_PATTERN = /^[a-z0-9_-]{1,32}$/;
/** How TIMEOUT_CLASS_PATTERN reads in an error message. */
export const TIMEOUT_CLASS_RULE = "a timeout class name (a-z, 0-9, '_' or '-')";

const BACKEND_NAME = `an HAProxy backend name: ${NAME_RULE}`;

export const weightAndMaxconnTable: Table<WeightAndMaxconn> = {
  weight: integer(WEIGHT.min, WEIGHT.max, { doc: "The slot's weight.", default: 1 }),
  maxconn: integer(MAXCONN.min, MAXCONN.max, { doc: "The slot's maxconn (0 = no limit).", default: 0 }),
};

export const slotClassTable: Table<SlotClassConfig> = {
  prefix: text({ doc: "The class's server-template prefix.", required: true, valid: NAME_PATTERN, hint: `a server-template prefix: ${NAME_RULE}` }),
  scheme: oneOf(["http", "https"] as const, { doc: "How HAProxy talks to the nodes in these slots.", default: "http" }),
  sslVerify: boolean({ doc: "Whether HAProxy verifies the nodes' certificates (https).", default: true }),
  timeout: text({ doc: "The timeout class a node asks for with its `timeout` setting.", default: "default", valid: TIMEOUT_CLASS_PATTERN, hint: TIMEOUT_CLASS_RULE }),
};

export const growTable: Table<GrowConfig> = {
  keywords: {
    doc: "`add server` keywords for slots added when a class runs out.",
    default: ["check"],
    check: (value, path, problems) => {
      if (Array.isArray(value) && value.every(isKeyword)) return value;
      problems.push(`${path}: expected a list of HAProxy server keywords and values of ${KEYWORD_RULE}, got ${describe(value)}`);
      return undefined;
    },
  },
  limit: integer(1, 100_000, { doc: "At most this many slots per backend and prefix.", default: 4000 }),
};

export const versioningTable: Table<VersioningConfig> = {
  compatible: oneOf(["minor", "major", "exact"] as const, { doc: "Which versions serve side by side: same MAJOR.MINOR (`minor`), same MAJOR (`major`) or only the same version (`exact`).", default: "minor" }),
  prefer: oneOf(["newest", "oldest"] as const, { doc: "Which generation serves when the serving one has no healthy instance left, and which one serves first when the handler meets several.", default: "newest" }),
  canaryPercent: integer(0, 50, { doc: "Share (0..50) of new requests for the newest healthy generation newer than the serving one while the serving one is healthy; 0 = it waits.", default: 0 }),
};

/** powDefaults: each key left out falls back to the service's `defaults`, not to the table's. */
const powDefaults: Field<WeightAndMaxconn> = {
  doc: "What a slot of the PoW backend is reset to.",
  defaultText: "the service's defaults",
  check: (value, path, problems, siblings) => {
    if (isRecord(value)) return readTable(weightAndMaxconnTable, value, path, problems, siblings["defaults"] as WeightAndMaxconn);
    problems.push(`${path}: expected a mapping, got ${describe(value)}`);
    return siblings["defaults"] as WeightAndMaxconn;
  },
  whenAbsent: (siblings) => siblings["defaults"] as WeightAndMaxconn,
  nested: { table: weightAndMaxconnTable as Table<unknown>, list: false },
};

const filterText = text({ doc: "Only instances matching this Consul filter expression (`?filter=`, Consul >= 1.5).", defaultText: "every instance", hint: "a Consul filter expression, e.g. 'Service.Meta.env == \"prod\"'" });

export const serviceTable: Table<ServiceConfig> = {
  name: text({ doc: "The Consul service name.", required: true, valid: CONSUL_SERVICE_NAME, hint: "a Consul service name (letters, digits, '_' or '-')" }),
  // tag and filter reach Consul as query parameters (URL-encoded); kept to printable text so a typo shows.
  tag: text({ doc: "Only instances with this tag (Consul's `?tag=`).", defaultText: "every instance", valid: /^\P{Cc}{1,255}$/u, hint: "a Consul tag (printable text, at most 255 characters)" }),
  filter: {
    ...filterText,
    check: (value, path, problems, siblings) => {
      const filter = filterText.check(value, path, problems, siblings);
      if (filter === undefined) return undefined;
      const problem = filterProblem(filter);
      if (problem === undefined) return filter;
      problems.push(`${path}: ${JSON.stringify(filter)}: ${problem}`);
      return undefined;
    },
  },
  backend: text({ doc: "The default backend.", required: true, valid: NAME_PATTERN, hint: BACKEND_NAME }),
  powBackend: text({ doc: "The PoW backend.", defaultText: "none", valid: NAME_PATTERN, hint: BACKEND_NAME }),
  slotPrefix: text({ doc: "The server-template prefix in both backends.", required: true, valid: NAME_PATTERN, hint: `the server-template prefix: ${NAME_RULE}` }),
  defaults: section(weightAndMaxconnTable, { doc: "What a slot of the default backend is reset to.", absent: "defaults" }),
  powDefaults,
  slotClasses: { ...listOf(slotClassTable, { doc: "Other server-templates with their own TLS and timeouts (see README \"slot classes\").", expected: "a mapping with prefix and scheme/sslVerify/timeout" }), default: [] },
  grow: section(growTable, { doc: "`add server` when a backend runs out of slots.", absent: "unset", defaultText: "off" }),
  versioning: section(versioningTable, { doc: "Only compatible versions serve (see README \"Versions\").", absent: "unset", defaultText: "off" }),
};

/** Two services writing the same slots would undo each other's work on every reconcile. */
export function checkBackendsAreNotShared(services: readonly ServiceConfig[], problems: string[]): void {
  const owners = new Map<string, string>();
  for (const service of services) {
    const prefixes = [service.slotPrefix, ...service.slotClasses.map((slotClass) => slotClass.prefix)];
    for (const backend of [service.backend, service.powBackend]) {
      if (!backend) continue;
      for (const prefix of prefixes) {
        const key = `${backend}/${prefix}`;
        const owner = owners.get(key);
        if (owner !== undefined && owner !== service.name) {
          problems.push(`services: slots ${key} are claimed by both ${owner} and ${service.name}; give each service its own backend or slot prefix`);
        }
        owners.set(key, service.name);
      }
    }
    if (service.powBackend === service.backend) problems.push(`services (${service.name}): powBackend must differ from backend`);
    const seen = new Set<string>();
    for (const prefix of prefixes) {
      if (seen.has(prefix)) problems.push(`services (${service.name}): slot prefix ${prefix} is listed twice`);
      seen.add(prefix);
    }
  }
}

/** services: a non-empty list; each entry read with serviceTable, then no two may share slots. */
export const servicesField: Field<ServiceConfig[]> = {
  doc: "The services to keep in step, each with its backends.",
  nullIsValue: true,
  nested: { table: serviceTable as Table<unknown>, list: true },
  check: (value, path, problems) => {
    if (!Array.isArray(value) || value.length === 0) {
      problems.push(`${path}: expected a non-empty list of {name, backend, slotPrefix}, got ${describe(value)}`);
      return undefined;
    }
    const services = listOf(serviceTable, { doc: "The services to keep in step, each with its backends.", expected: "a mapping with name, backend and slotPrefix" }).check(value, path, problems, {}) ?? [];
    checkBackendsAreNotShared(services, problems);
    return services;
  },
  whenAbsent: (_siblings, path, problems) => {
    problems.push(`${path}: expected a non-empty list of {name, backend, slotPrefix}, got nothing`);
    return undefined;
  },
};
