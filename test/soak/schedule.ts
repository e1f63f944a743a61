// The soak's fault schedule, drawn from a seed: the same seed gives the same
// faults, on the same nodes, in the same order, with the same durations, so
// a broken invariant can be replayed (`make soak SEED=<seed>`). Pure: the
// runner (soak.ts) carries it out against real processes.
//
// The run is cut into segments. In a segment a fault starts every 1-3 s;
// faults that last (a stalled Consul, a frozen HAProxy, ...) overlap with
// others but never with one of their own kind's resource (one HAProxy, one
// fault proxy, one Consul server down at a time so the cluster keeps its
// quorum), and all of them end before the segment does. Then the runner
// settles: it waits until every component is back and measures how long
// HAProxy takes to equal what Consul says.

/** What a fault does; README's soak section lists them. */
export type FaultKind =
  | "register"
  | "deregister"
  | "maintenance"
  | "check-flip"
  | "leader-kill"
  | "agent-restart"
  | "proxy-stall"
  | "proxy-truncated"
  | "proxy-500"
  | "proxy-empty"
  | "haproxy-reload"
  | "haproxy-restart"
  | "haproxy-freeze"
  | "handler-kill"
  | "slots-read-only";

export const FAULT_KINDS: readonly FaultKind[] = [
  "register",
  "deregister",
  "maintenance",
  "check-flip",
  "leader-kill",
  "agent-restart",
  "proxy-stall",
  "proxy-truncated",
  "proxy-500",
  "proxy-empty",
  "haproxy-reload",
  "haproxy-restart",
  "haproxy-freeze",
  "handler-kill",
  "slots-read-only",
];

/** The thing a fault holds while it lasts: two faults on one resource never overlap. */
type Resource = "node" | "consul-server" | "lb-agent" | "proxy" | "haproxy" | "handler" | "slots-dir";

interface KindRule {
  resource: Resource;
  /** How often it is drawn, against the others. */
  weight: number;
  /** [min, max] ms it lasts; [0, 0] for one that is done when its action returns. */
  lasts: readonly [number, number];
  /** At least this long (ms of schedule) between two of its kind. */
  cooldownMs?: number;
}

const RULES: Readonly<Record<FaultKind, KindRule>> = {
  register: { resource: "node", weight: 4, lasts: [0, 0] },
  deregister: { resource: "node", weight: 3, lasts: [0, 0] },
  maintenance: { resource: "node", weight: 2, lasts: [1_000, 6_000] },
  "check-flip": { resource: "node", weight: 3, lasts: [500, 5_000] },
  "leader-kill": { resource: "consul-server", weight: 1, lasts: [1_000, 5_000] },
  "agent-restart": { resource: "lb-agent", weight: 1, lasts: [0, 2_000] },
  "proxy-stall": { resource: "proxy", weight: 1, lasts: [1_000, 6_000] },
  "proxy-truncated": { resource: "proxy", weight: 1, lasts: [1_000, 4_000] },
  "proxy-500": { resource: "proxy", weight: 1, lasts: [1_000, 4_000] },
  "proxy-empty": { resource: "proxy", weight: 1, lasts: [1_000, 4_000] },
  "haproxy-reload": { resource: "haproxy", weight: 1, lasts: [0, 0] },
  "haproxy-restart": { resource: "haproxy", weight: 1, lasts: [0, 0] },
  "haproxy-freeze": { resource: "haproxy", weight: 1, lasts: [500, 3_000] },
  // Rare: the handler's memory and descriptors are judged over one life of at least 25 minutes
  // (10 of warm-up, 15 to judge), so a 60-minute soak has one whole 30-minute life.
  "handler-kill": { resource: "handler", weight: 1, lasts: [200, 3_000], cooldownMs: 30 * 60_000 },
  "slots-read-only": { resource: "slots-dir", weight: 1, lasts: [2_000, 8_000] },
};

/** One fault: what, on which node (node faults), how long, and how (agent restarts: a crash or a graceful leave). */
export interface Fault {
  /** 1, 2, ... in the order they start, across the whole run. */
  number: number;
  kind: FaultKind;
  /** Index into the churn nodes, for register, deregister, maintenance and check-flip. */
  node?: number;
  durationMs: number;
  /** agent-restart: SIGKILL (a crash) or SIGTERM (a graceful leave, as `systemctl restart` does). */
  signal?: "SIGKILL" | "SIGTERM";
}

/** A step of a segment, `at` ms after the segment began. */
export interface Step {
  at: number;
  action: "start" | "end";
  fault: Fault;
}

export interface Segment {
  steps: Step[];
}

export interface ScheduleOptions {
  seed: number;
  /** Segments to draw (the runner stops at its deadline even when more are left). */
  segments: number;
  /** Length of a segment's fault phase. */
  segmentMs: number;
  /** How many churn nodes there are (baseline nodes are never faulted). */
  churnNodes: number;
  /** Which churn nodes are registered when the run begins. */
  initiallyRegistered: readonly number[];
}

/** mulberry32: a small, well-mixed 32-bit PRNG; enough for a schedule, and the same in every Node release. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function between(random: () => number, [low, high]: readonly [number, number]): number {
  return Math.round(low + random() * (high - low));
}

function pick<T>(random: () => number, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
}

/**
 * Draws the schedule. A node fault picks a node it can apply to (register:
 * one not registered; the others: one registered, with no fault of its own
 * in progress), tracked here so that the schedule alone says what happens.
 */
export function drawSchedule(options: ScheduleOptions): Segment[] {
  const random = prng(options.seed);
  const registered = new Set(options.initiallyRegistered);
  let number = 0;
  const segments: Segment[] = [];
  const lastStart = new Map<FaultKind, number>();
  for (let segment = 0; segment < options.segments; segment += 1) {
    const steps: Step[] = [];
    const busyUntil = new Map<Resource, number>();
    const nodeBusyUntil = new Map<number, number>();
    for (let at = between(random, [300, 1_500]); at < options.segmentMs; at += between(random, [1_000, 3_000])) {
      const candidates = FAULT_KINDS.filter((kind) => {
        const rule = RULES[kind];
        const last = lastStart.get(kind);
        if (rule.cooldownMs !== undefined && last !== undefined && segment * options.segmentMs + at - last < rule.cooldownMs) return false;
        return rule.resource === "node" || (busyUntil.get(rule.resource) ?? -1) < at;
      });
      const kind = weightedPick(random, candidates);
      const rule = RULES[kind];
      // Every fault ends before the segment does, so that the settle after it starts from a quiet system.
      const durationMs = Math.min(between(random, rule.lasts), Math.max(0, options.segmentMs - at - 200));
      const fault: Fault = { number: 0, kind, durationMs };
      if (rule.resource === "node") {
        const free = (node: number) => (nodeBusyUntil.get(node) ?? -1) < at;
        const all = Array.from({ length: options.churnNodes }, (_, node) => node);
        const node = pick(random, all.filter((each) => free(each) && (kind === "register" ? !registered.has(each) : registered.has(each))));
        if (node === undefined) continue;
        fault.node = node;
        if (kind === "register") registered.add(node);
        if (kind === "deregister") registered.delete(node);
        nodeBusyUntil.set(node, at + durationMs + 100);
      } else {
        busyUntil.set(rule.resource, at + durationMs + 100);
      }
      if (kind === "agent-restart") fault.signal = random() < 0.5 ? "SIGKILL" : "SIGTERM";
      number += 1;
      fault.number = number;
      lastStart.set(kind, segment * options.segmentMs + at);
      steps.push({ at, action: "start", fault });
      if (rule.lasts[1] > 0) steps.push({ at: at + durationMs, action: "end", fault });
    }
    // In time order; at the same time one fault's end comes before another's
    // start (that frees its resource), and a fault starts before it ends.
    steps.sort((a, b) => a.at - b.at || (a.fault.number === b.fault.number ? (a.action === "start" ? -1 : 1) : a.action === b.action ? a.fault.number - b.fault.number : a.action === "end" ? -1 : 1));
    segments.push({ steps });
  }
  return segments;
}

function weightedPick(random: () => number, kinds: readonly FaultKind[]): FaultKind {
  const total = kinds.reduce((sum, kind) => sum + RULES[kind].weight, 0);
  let draw = random() * total;
  for (const kind of kinds) {
    draw -= RULES[kind].weight;
    if (draw < 0) return kind;
  }
  return kinds[kinds.length - 1] ?? "register";
}

/** True for faults that last (they have an end step). */
export function lasts(kind: FaultKind): boolean {
  return RULES[kind].lasts[1] > 0;
}

/** How a fault reads in a log line: `#12 check-flip node c7 (2300 ms)`. */
export function describeFault(fault: Fault, nodeName: (node: number) => string = (node) => `c${node}`): string {
  const parts = [`#${fault.number} ${fault.kind}`];
  if (fault.node !== undefined) parts.push(`node ${nodeName(fault.node)}`);
  if (fault.signal) parts.push(fault.signal);
  if (lasts(fault.kind)) parts.push(`(${fault.durationMs} ms)`);
  return parts.join(" ");
}
