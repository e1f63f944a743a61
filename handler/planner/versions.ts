// Version-aware routing, pure. A service's instances fall into generations
// (versions that may serve side by side); exactly one generation serves.
//
// Rules, in short:
// - Generation: same MAJOR.MINOR (compatible: minor, the default), same
//   MAJOR (major) or the same version (exact). Nodes without a version form
//   one generation, `unversioned`, older than every version: turning
//   versioning on never takes a fleet that does not announce versions out of
//   rotation, and moving it to versions is itself a rollout without mixing.
// - The serving generation is sticky: HAProxy shows it (ready slots with a
//   weight above 0), and it keeps serving while it has a healthy instance.
//   Nothing else is remembered, so a re-run or a restarted handler decides
//   the same way.
// - A promoted version (the operator's `promote`, kept in Consul KV) serves
//   whenever its generation has a healthy instance.
// - When the serving generation has no healthy instance left (critical, in
//   maintenance, gone), or none serves yet, `prefer` picks among the healthy
//   generations: newest or oldest.
// - Waiting generations keep their slots in state ready with weight 0:
//   HAProxy still checks them but sends them no new request, so the switch
//   is a weight change in one batch, with no hold-down.
// - Canary: with canaryPercent > 0 the newest healthy generation newer than
//   the serving one gets that share of new requests, by weights.
import type { AdminState, BackendPolicy, Compatibility, Endpoint, GenerationRole, GenerationSummary, Slot, VersionDecision, VersioningPolicy } from "./model.js";
import { compareVersions, parseVersion, type Semver } from "./semver.js";

export const UNVERSIONED = "unversioned";

interface Generation {
  label: string;
  /** Undefined for the unversioned generation, which is older than any. */
  rank?: Semver;
}

/** The generation a version belongs to under a compatibility rule. */
export function generationOf(version: string | undefined, compatible: Compatibility): Generation {
  const parsed = version === undefined ? undefined : parseVersion(version);
  if (!parsed) return { label: UNVERSIONED };
  switch (compatible) {
    case "minor":
      return { label: `${parsed.major}.${parsed.minor}.x`, rank: { major: parsed.major, minor: parsed.minor, patch: 0, prerelease: [] } };
    case "major":
      return { label: `${parsed.major}.x`, rank: { major: parsed.major, minor: 0, patch: 0, prerelease: [] } };
    case "exact":
      return { label: version ?? UNVERSIONED, rank: parsed };
  }
}

function compareGenerations(a: Generation, b: Generation): number {
  if (!a.rank || !b.rank) return (a.rank ? 1 : 0) - (b.rank ? 1 : 0);
  return compareVersions(a.rank, b.rank);
}

/** What the planner knows about an instance when deciding. */
export interface VersionInputs {
  /** Would take traffic (desired state ready) in at least one of the service's backends. */
  healthy: (endpoint: Endpoint) => boolean;
  serves: (endpoint: Endpoint, backend: BackendPolicy) => boolean;
}

interface GenerationState {
  generation: Generation;
  members: Endpoint[];
  healthy: number;
}

function pick(candidates: GenerationState[], prefer: VersioningPolicy["prefer"]): GenerationState | undefined {
  const sorted = [...candidates].sort((a, b) => compareGenerations(a.generation, b.generation));
  return prefer === "newest" ? sorted[sorted.length - 1] : sorted[0];
}

function addressKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/**
 * The generations HAProxy shows taking traffic: slots in state ready with a
 * weight above 0 whose address:port belongs to a current instance.
 */
function generationsTakingTraffic(states: Map<string, GenerationState>, slots: readonly Slot[], backends: readonly BackendPolicy[], inputs: VersionInputs): { live: GenerationState[]; unknown: number } {
  const live = new Set<GenerationState>();
  let unknown = 0;
  for (const backend of backends) {
    const byAddress = new Map<string, GenerationState>();
    for (const state of states.values()) {
      for (const endpoint of state.members) if (inputs.serves(endpoint, backend)) byAddress.set(addressKey(endpoint.address, endpoint.port), state);
    }
    for (const slot of slots) {
      if (slot.backend !== backend.backend || slot.address === undefined || slot.port === undefined) continue;
      if (slot.adminState !== "ready" || slot.weight === 0) continue;
      const state = byAddress.get(addressKey(slot.address, slot.port));
      if (state) live.add(state);
      else unknown += 1;
    }
  }
  return { live: [...live].sort((a, b) => compareGenerations(a.generation, b.generation)), unknown };
}

function describeLoss(state: GenerationState | undefined, label: string, inputs: VersionInputs): string {
  if (!state || state.members.length === 0) return `serving generation ${label} has no instance left in Consul`;
  const counts = new Map<string, number>();
  for (const endpoint of state.members) {
    const word = inputs.healthy(endpoint) ? "healthy" : endpoint.health;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return `serving generation ${label} has no healthy instance left (${[...counts].map(([word, count]) => `${count} ${word}`).join(", ")})`;
}

/**
 * Decides which generation of one service serves, which one is the canary
 * and which wait. `endpoints` and `slots` may hold other services' too.
 */
export function decideVersions(
  serviceName: string,
  versioning: VersioningPolicy,
  endpoints: readonly Endpoint[],
  slots: readonly Slot[],
  backends: readonly BackendPolicy[],
  inputs: VersionInputs,
  promoted?: string,
): VersionDecision {
  const own = backends.filter((backend) => backend.serviceName === serviceName);
  const states = new Map<string, GenerationState>();
  for (const endpoint of endpoints) {
    if (endpoint.serviceName !== serviceName || !own.some((backend) => inputs.serves(endpoint, backend))) continue;
    const generation = generationOf(endpoint.settings.version, versioning.compatible);
    const state = states.get(generation.label) ?? { generation, members: [], healthy: 0 };
    state.members.push(endpoint);
    if (inputs.healthy(endpoint)) state.healthy += 1;
    states.set(generation.label, state);
  }
  const healthy = [...states.values()].filter((state) => state.healthy > 0);

  // What HAProxy shows. Several generations with traffic: a canary (the
  // oldest is the serving one) when canaries are on, else a mix from before
  // versioning was turned on (nothing serves yet; `prefer` decides).
  // Slots with traffic whose node left Consul: their generation is unknown now.
  const { live, unknown } = generationsTakingTraffic(states, slots, own, inputs);
  const previous = live.length === 1 || (live.length > 1 && versioning.canaryPercent > 0) ? live[0] : undefined;

  let serving: GenerationState | undefined;
  let reason: string | undefined;
  let promotedInForce: string | undefined;
  const promotedState = promoted === undefined ? undefined : states.get(generationOf(promoted, versioning.compatible).label);
  if (promotedState && promotedState.healthy > 0) {
    serving = promotedState;
    promotedInForce = promoted;
    reason = `promoted by the operator (${promoted})`;
  } else if (previous && previous.healthy > 0) {
    serving = previous;
  } else {
    serving = pick(healthy, versioning.prefer);
    if (serving) {
      if (previous) reason = `${describeLoss(previous, previous.generation.label, inputs)}; prefer ${versioning.prefer}`;
      else if (live.length > 1) reason = `several generations took traffic (${live.map((state) => state.generation.label).join(", ")}); prefer ${versioning.prefer}`;
      else if (unknown > 0) reason = `the serving generation has no instance left in Consul; prefer ${versioning.prefer}`;
      else reason = `no generation served yet; prefer ${versioning.prefer}`;
    } else {
      // Nothing healthy anywhere: keep what HAProxy shows (the health states take everything out anyway).
      serving = previous ?? pick([...states.values()], versioning.prefer);
    }
  }

  let canary: GenerationState | undefined;
  if (versioning.canaryPercent > 0 && serving && serving.healthy > 0) {
    const newer = healthy.filter((state) => serving && compareGenerations(state.generation, serving.generation) > 0);
    canary = pick(newer, "newest");
  }

  const roleOf = (state: GenerationState): GenerationRole => (state === serving ? "serving" : state === canary ? "canary" : "waiting");
  const members = new Map<string, { generation: string; role: GenerationRole }>();
  const generations: GenerationSummary[] = [...states.values()]
    .sort((a, b) => compareGenerations(b.generation, a.generation))
    .map((state) => {
      for (const endpoint of state.members) members.set(endpoint.serviceId, { generation: state.generation.label, role: roleOf(state) });
      return { generation: state.generation.label, role: roleOf(state), instances: state.members.length, healthy: state.healthy };
    });

  const decision: VersionDecision = { serviceName, generations, members };
  if (serving) decision.serving = serving.generation.label;
  if (previous) decision.previous = previous.generation.label;
  if (canary) decision.canary = canary.generation.label;
  if (promotedInForce !== undefined) decision.promoted = promotedInForce;
  if (serving && serving !== previous && reason !== undefined) decision.switchReason = reason;
  return decision;
}

/** A desired server of one backend, as far as weights are concerned. */
export interface WeightedServer {
  endpoint: Endpoint;
  state: AdminState;
  weight: number;
}

/**
 * Canary weights: serving weights scaled up by `scale`, canary weights set so
 * the canary's share of the summed weights is as close to `percent` as
 * HAProxy's whole weights (1..maxWeight, the policy's: 256) allow. Weights of 0 stay 0.
 */
export function canaryWeights(serving: readonly number[], canary: readonly number[], percent: number, maxWeight: number): { serving: number[]; canary: number[] } {
  const servingSum = serving.reduce((sum, weight) => sum + weight, 0);
  const canarySum = canary.reduce((sum, weight) => sum + weight, 0);
  if (servingSum === 0 || canarySum === 0) return { serving: [...serving], canary: canary.map(() => 0) };
  const largestServing = Math.max(...serving);
  const largestCanary = Math.max(...canary);
  const attempt = (scale: number) => {
    const target = (servingSum * scale * percent) / (100 - percent);
    const factor = target / canarySum;
    return { scale, factor, fits: largestCanary * factor <= maxWeight && canary.every((weight) => weight === 0 || Math.round(weight * factor) >= 1) };
  };
  // The largest scale that fits gives the finest steps, so the share is closest.
  let chosen = attempt(1);
  for (let scale = Math.floor(maxWeight / largestServing); scale >= 1; scale -= 1) {
    const candidate = attempt(scale);
    if (candidate.fits) {
      chosen = candidate;
      break;
    }
  }
  const clamp = (weight: number) => Math.min(maxWeight, Math.max(1, Math.round(weight)));
  return {
    serving: serving.map((weight) => weight * chosen.scale),
    canary: canary.map((weight) => (weight === 0 ? 0 : clamp(weight * chosen.factor))),
  };
}

/**
 * Sets each desired server's weight from its generation's role: waiting
 * generations get 0 (checked, no new requests); with a canary, serving and
 * canary weights are scaled so the canary gets its share.
 */
export function applyVersionWeights(servers: WeightedServer[], decision: VersionDecision, canaryPercent: number, maxWeight: number): void {
  const servingServers: WeightedServer[] = [];
  const canaryServers: WeightedServer[] = [];
  for (const server of servers) {
    const role = decision.members.get(server.endpoint.serviceId)?.role ?? "waiting";
    if (role === "waiting") server.weight = 0;
    else if (role === "serving") servingServers.push(server);
    else canaryServers.push(server);
  }
  if (canaryServers.length === 0) return;
  // Only instances that take traffic count towards the shares.
  const inRotation = (server: WeightedServer) => server.state === "ready";
  const servingReady = servingServers.filter(inRotation);
  const canaryReady = canaryServers.filter(inRotation);
  const weights = canaryWeights(
    servingReady.map((server) => server.weight),
    canaryReady.map((server) => server.weight),
    canaryPercent,
    maxWeight,
  );
  servingReady.forEach((server, index) => (server.weight = weights.serving[index] ?? server.weight));
  canaryReady.forEach((server, index) => (server.weight = weights.canary[index] ?? 0));
  // A canary instance out of rotation (drain, maint) gets the scaled weight once it is back.
  for (const server of canaryServers) if (!inRotation(server)) server.weight = 0;
}
