// The planner: a pure function from (desired endpoints, current slots,
// policy) to the operations that make HAProxy match Consul. No I/O here, so
// every rule below is covered by unit tests without Consul or HAProxy.
//
// Rules, in short:
// - A node keeps its slot while it exists; the mapping is recovered from the
//   slot's address:port, so nothing is compacted or reshuffled.
// - A new node takes the lowest free slot of its class; a reused slot gets
//   address, weight and maxconn reset to the node's values or the defaults
//   (weight and maxconn only when the slot's value differs).
// - passing -> ready; warning -> ready or drain (policy); maintenance -> drain;
//   critical -> maint. A node that left Consul is drained, then its slot is
//   put in maint (free) once it has no sessions or the drain time is over.
// - Only a node that should take traffic gets a new slot, and it is held
//   DOWN until HAProxy's own check passes.
// - Out of slots: grow with `add server` when the class allows it, otherwise
//   leave the node out with a reason; a healthy node is never evicted.
// - Versioning (versions.ts): one decision per service sets the weights of
//   waiting (0), serving and canary generations in both backends.
import type { AdminState, BackendPolicy, Endpoint, LeftOut, Plan, PlannerInputs, PlannerPolicy, PlanStep, Slot, SlotClass, SlotOperation, VersionDecision } from "./model.js";
import { sameOperation, SETTINGS, type DesiredSource, type SettingOperation, type SlotSettingFields } from "./slot-settings.js";
import { applyVersionWeights, decideVersions } from "./versions.js";
import { SlotIndex } from "./slot-index.js";

interface DesiredServer {
  endpoint: Endpoint;
  slotClass: SlotClass;
  /** What the table's entries make the desired values from. */
  source: DesiredSource;
  state: AdminState;
  /** The node's weight, or its version's (versions.ts sets it). */
  weight: number;
}

/** Every setting's desired operation, in table order; the weight is the one versioning decided. */
function wantedOperations(server: DesiredServer): SettingOperation[] {
  return SETTINGS.map((entry) => {
    const operation = entry.desired(server.source);
    return operation.kind === "set-weight" ? { ...operation, weight: server.weight } : operation;
  });
}

function endpointKey(address: string, port: number): string {
  return `${address}|${port}`;
}

export function desiredState(endpoint: Endpoint, policy: PlannerPolicy, backend?: BackendPolicy): AdminState {
  switch (endpoint.health) {
    case "passing":
      return "ready";
    case "warning":
      return backend?.warningAs ?? policy.warningAs;
    case "maintenance":
      return "drain";
    case "critical":
      return "maint";
  }
}

/** Whether the node belongs in this backend, from its `pow` setting. */
export function servesBackend(endpoint: Endpoint, backend: BackendPolicy): boolean {
  if (endpoint.serviceName !== backend.serviceName) return false;
  if (backend.everyNode === true) return true;
  if (backend.role === "pow") return endpoint.settings.pow === "true" || endpoint.settings.pow === "only";
  return endpoint.settings.pow === "false" || endpoint.settings.pow === "true";
}

export function classFor(endpoint: Endpoint, backend: BackendPolicy): SlotClass | undefined {
  if (backend.everyNode === true) return backend.classes[0];
  const wanted = endpoint.settings;
  return backend.classes.find(
    (slotClass) =>
      slotClass.scheme === wanted.scheme &&
      slotClass.timeoutClass === wanted.timeoutClass &&
      (slotClass.scheme === "http" || slotClass.sslVerify === wanted.sslVerify),
  );
}

function describeClass(endpoint: Endpoint): string {
  const { scheme, sslVerify, timeoutClass } = endpoint.settings;
  return `scheme=${scheme}${scheme === "https" ? ` sslverify=${sslVerify}` : ""} timeout=${timeoutClass}`;
}

/** The servers one backend should have, or why a node cannot be placed. */
function desiredServers(endpoints: readonly Endpoint[], backend: BackendPolicy, policy: PlannerPolicy, leftOut: LeftOut[]): DesiredServer[] {
  const servers: DesiredServer[] = [];
  const seen = new Map<string, string>();
  const ordered = endpoints
    .filter((endpoint) => servesBackend(endpoint, backend))
    // A backend with its own port reaches every node there (the planner compares slots by address and port).
    .map((endpoint) => (backend.port === undefined ? endpoint : { ...endpoint, port: backend.port }))
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : 0));
  for (const endpoint of ordered) {
    const slotClass = classFor(endpoint, backend);
    if (!slotClass) {
      leftOut.push({
        backend: backend.backend,
        serviceId: endpoint.serviceId,
        reason: `no slot class for ${describeClass(endpoint)}; add a server-template and a slotClasses entry for it`,
      });
      continue;
    }
    // Two registrations of one address:port would fight over one slot.
    const key = `${slotClass.prefix}|${endpointKey(endpoint.address, endpoint.port)}`;
    const holder = seen.get(key);
    if (holder !== undefined) {
      leftOut.push({ backend: backend.backend, serviceId: endpoint.serviceId, reason: `same address and port as ${holder}` });
      continue;
    }
    seen.set(key, endpoint.serviceId);
    const state = desiredState(endpoint, policy, backend);
    const source: DesiredSource = { address: endpoint.address, port: endpoint.port, state, settings: endpoint.settings, role: backend.role, defaults: backend.defaults };
    const weight = SETTINGS.map((entry) => entry.desired(source)).find((operation) => operation.kind === "set-weight");
    servers.push({ endpoint, slotClass, source, state, weight: weight?.kind === "set-weight" ? weight.weight : backend.defaults.weight });
  }
  return servers;
}

/**
 * The settings' operations for a slot: on an update (`slot` is the node's)
 * those that differ; on a fill also those sent always (the address). A
 * reused slot is always reset to the node's values or the defaults: a slot
 * freed earlier keeps its previous node's weight and maxconn, so they are
 * compared, never assumed. A fresh template slot usually has the defaults
 * already, and skipping them halves a first fill's commands. A grown server
 * (`add server`, no slot yet) gets every setting.
 */
function settingOperations(desired: DesiredServer, slot: SlotSettingFields | undefined, fill: boolean): { prepare: SlotOperation[]; activate: SlotOperation[] } {
  const prepare: SlotOperation[] = [];
  const activate: SlotOperation[] = [];
  wantedOperations(desired).forEach((operation, index) => {
    const entry = SETTINGS[index];
    if (!entry) return;
    const send = entry.send === "always" ? fill : !sameOperation(slot === undefined ? undefined : entry.current(slot), operation);
    if (send) (entry.phase === "prepare" ? prepare : activate).push(operation);
  });
  return { prepare, activate };
}

/** Operations that bring an occupied slot's settings and state to what is desired. */
function updateOperations(slot: Slot, desired: DesiredServer, policy: PlannerPolicy): { prepare: SlotOperation[]; activate: SlotOperation[] } {
  const { prepare, activate } = settingOperations(desired, slot, false);
  // Leaving maint counts as UP at once; `health down` right after holds it
  // DOWN until HAProxy's own check passes (the order matters: tested).
  if (slot.adminState === "maint" && desired.state !== "maint" && slot.checksEnabled && policy.holdDownUntilChecked) {
    activate.push({ kind: "set-health", health: "down" });
  }
  return { prepare, activate };
}

/** Operations that put a node into a free slot, or into a grown server (`slot` undefined). */
function fillOperations(desired: DesiredServer, slot: SlotSettingFields | undefined, slotHasChecks: boolean, policy: PlannerPolicy): { prepare: SlotOperation[]; activate: SlotOperation[] } {
  const { prepare, activate } = settingOperations(desired, slot, true);
  if (slotHasChecks && policy.holdDownUntilChecked) activate.push({ kind: "set-health", health: "down" });
  return { prepare, activate };
}

/**
 * Freeing a slot also forgets its node's address (0.0.0.0, what a template
 * slot starts with): a slot in maint that still named an address would read
 * as that node's, and a new node registered at the same address:port later
 * would be credited a slot it never got.
 */
function forgetAddress(slot: Slot): SlotOperation[] {
  return slot.address !== undefined && slot.port !== undefined ? [{ kind: "set-addr", address: "0.0.0.0", port: slot.port }] : [];
}

/** A slot no desired node maps to: drain it, then free it. */
function orphanStep(slot: Slot, policy: PlannerPolicy): { step?: PlanStep; draining: boolean } {
  const base = { backend: slot.backend, server: slot.name, prepare: [] as SlotOperation[] };
  // Already free; one still naming an address is forgotten once the fills are planned (planBackend).
  if (slot.adminState === "maint") return { draining: false };
  if (slot.address === undefined) {
    return { draining: false, step: { ...base, reason: "free: slot without a node", activate: [{ kind: "set-state", state: "maint" }] } };
  }
  if (slot.adminState === "ready") {
    return { draining: true, step: { ...base, reason: "drain: node left Consul", activate: [{ kind: "set-state", state: "drain" }] } };
  }
  if (slot.sessions === 0 || slot.secondsSinceChange >= policy.drainSeconds) {
    return { draining: false, step: { ...base, reason: "free: drained", activate: [{ kind: "set-state", state: "maint" }, ...forgetAddress(slot)] } };
  }
  return { draining: true };
}

/** The free slots lowest number first, out of two lists each lowest first; `namedTaken`: how many of the first list were taken. */
function lowestFirst(named: readonly Slot[], blank: readonly Slot[]): { take(): Slot | undefined; namedTaken(): number } {
  let fromNamed = 0;
  let fromBlank = 0;
  return {
    take() {
      const [first, second] = [named[fromNamed], blank[fromBlank]];
      if (first !== undefined && (second === undefined || first.number < second.number)) {
        fromNamed += 1;
        return first;
      }
      if (second !== undefined) fromBlank += 1;
      return second;
    },
    namedTaken: () => fromNamed,
  };
}

function planBackend(endpoints: readonly Endpoint[], index: SlotIndex, backend: BackendPolicy, policy: PlannerPolicy, plan: Plan, versions?: VersionDecision): void {
  const desired = desiredServers(endpoints, backend, policy, plan.leftOut);
  if (versions && backend.versioning) applyVersionWeights(desired, versions, backend.versioning.canaryPercent, policy.maxWeight);
  const usage = { backend: backend.backend, total: 0, used: 0, free: 0 };
  plan.usage.push(usage);
  for (const slotClass of backend.classes) {
    const { named, blank, highest, count } = index.classSlots(backend.backend, slotClass.prefix);
    const classDesired = desired.filter((server) => server.slotClass === slotClass);
    const wanted = new Map(classDesired.map((server) => [endpointKey(server.endpoint.address, server.endpoint.port), server]));

    // Recover the slot <-> node mapping from HAProxy: the lowest slot with
    // the node's address:port is its slot; any other is an orphan. Only the
    // named slots can be either: the blank ones (most of a large backend) are
    // free, and cost nothing until a fill takes the lowest of them.
    const holders = new Map<string, Slot>();
    const orphans: Slot[] = [];
    // Named slots in maint that hold no wanted node: free, still naming an address.
    const freeNamed: Slot[] = [];
    for (const slot of named) {
      const key = slot.address !== undefined && slot.port !== undefined ? endpointKey(slot.address, slot.port) : undefined;
      if (key !== undefined && wanted.has(key) && !holders.has(key)) holders.set(key, slot);
      else if (slot.adminState === "maint") freeNamed.push(slot);
      else orphans.push(slot);
    }

    for (const [key, slot] of holders) {
      const server = wanted.get(key);
      if (!server) continue;
      const { prepare, activate } = updateOperations(slot, server, policy);
      if (prepare.length + activate.length > 0) {
        const generation = versions?.members.get(server.endpoint.serviceId);
        const reason = `update: ${server.endpoint.health}${generation ? `, ${generation.generation} ${generation.role}` : ""}`;
        plan.steps.push({ backend: backend.backend, server: slot.name, serviceId: server.endpoint.serviceId, reason, prepare, activate });
      }
    }

    let freedByPlan = 0;
    for (const slot of orphans) {
      const { step, draining } = orphanStep(slot, policy);
      if (step) plan.steps.push(step);
      if (draining) plan.draining += 1;
      if (step?.activate.some((operation) => operation.kind === "set-state" && operation.state === "maint")) freedByPlan += 1;
    }

    // The lowest free slots are filled first, named or blank.
    const nextFree = lowestFirst(freeNamed, blank);
    let filled = 0;
    let grown = 0;
    let nextNumber = highest + 1;
    for (const server of classDesired) {
      const key = endpointKey(server.endpoint.address, server.endpoint.port);
      // Only a node that should take traffic needs a new slot.
      if (holders.has(key) || server.state !== "ready") continue;
      const slot = nextFree.take();
      if (slot) {
        filled += 1;
        const { prepare, activate } = fillOperations(server, slot, slot.checksEnabled, policy);
        plan.steps.push({ backend: backend.backend, server: slot.name, serviceId: server.endpoint.serviceId, reason: "fill", prepare, activate });
        continue;
      }
      if (slotClass.growKeywords.length > 0 && nextNumber <= slotClass.growLimit) {
        const name = `${slotClass.prefix}${nextNumber}`;
        nextNumber += 1;
        grown += 1;
        const hasChecks = slotClass.growKeywords.includes("check");
        const { prepare, activate } = fillOperations(server, undefined, hasChecks, policy);
        const { address, port } = server.endpoint;
        plan.steps.push({
          backend: backend.backend,
          server: name,
          serviceId: server.endpoint.serviceId,
          reason: "grow: no free slot",
          prepare: [{ kind: "add-server", address, port, keywords: slotClass.growKeywords }, ...prepare.filter((operation) => operation.kind !== "set-addr")],
          // A dynamic server starts in maint with its checks off.
          activate: hasChecks ? [{ kind: "enable-health" }, ...activate] : activate,
        });
        continue;
      }
      plan.leftOut.push({
        backend: backend.backend,
        serviceId: server.endpoint.serviceId,
        reason:
          count === 0 && backend.mayBeMissing === true
            ? `HAProxy has no slots in ${backend.backend}: it has not loaded this portmap entry yet; load the rendered portmap into HAProxy (a reload)`
            : `no free slot in ${backend.backend}/${slotClass.prefix} (${count} slots, all held); add slots to the server-template${slotClass.growKeywords.length > 0 ? ` or raise grow.limit (${slotClass.growLimit})` : " or enable grow"}`,
      });
    }
    // A free slot nobody fills that still names an address (its node went
    // critical, then left Consul): forget the address. Only named ones can.
    for (const slot of freeNamed.slice(nextFree.namedTaken())) {
      const forget = forgetAddress(slot);
      if (forget.length > 0) plan.steps.push({ backend: backend.backend, server: slot.name, reason: "free: forget the address of a node no longer in Consul", prepare: [], activate: forget });
    }
    // After the plan: slots it fills are no longer free, the ones it frees
    // are (usable from the next reconcile on), grown ones were added.
    const total = count + grown;
    const freeAfter = freeNamed.length + blank.length - filled + freedByPlan;
    usage.total += total;
    usage.free += freeAfter;
    usage.used += total - freeAfter;
  }
}

/** One version decision per service with versioning on (its backends share it). */
export function decideAllVersions(endpoints: readonly Endpoint[], slots: readonly Slot[], policy: PlannerPolicy, inputs: PlannerInputs = {}): Map<string, VersionDecision> {
  const decisions = new Map<string, VersionDecision>();
  const versionInputs = {
    healthy: (endpoint: Endpoint) => desiredState(endpoint, policy) === "ready",
    serves: servesBackend,
  };
  for (const backend of policy.backends) {
    if (!backend.versioning || decisions.has(backend.serviceName)) continue;
    const promoted = inputs.promoted?.get(backend.serviceName);
    decisions.set(backend.serviceName, decideVersions(backend.serviceName, backend.versioning, endpoints, slots, policy.backends, versionInputs, promoted));
  }
  return decisions;
}

/** `slots`: HAProxy's, as an array or as an index kept current between plans (`run`'s cache), which makes a plan cost what it changes. */
export function planReconcile(endpoints: readonly Endpoint[], slots: readonly Slot[] | SlotIndex, policy: PlannerPolicy, inputs: PlannerInputs = {}): Plan {
  const plan: Plan = { steps: [], leftOut: [], draining: 0, usage: [], versions: [] };
  const index = SlotIndex.of(slots);
  // Versioning looks at slots taking traffic (named ones only), and only where a backend has it: most plans need no list of every named slot.
  const decisions = policy.backends.some((backend) => backend.versioning) ? decideAllVersions(endpoints, index.named(), policy, inputs) : new Map<string, VersionDecision>();
  plan.versions = [...decisions.values()];
  for (const backend of policy.backends) planBackend(endpoints, index, backend, policy, plan, decisions.get(backend.serviceName));
  return plan;
}
