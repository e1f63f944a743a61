// The mass-removal guard: one Consul answer must never take most of a
// backend out of rotation. A Consul agent restarted with an empty catalog
// (a dev agent, a lost data dir, a wrong snapshot) answers "no instances"
// with every sign of health, and the plan would drain every slot.
//
// Pure: from the plan, the slots it was made from, the guard's memory and
// the clock, to the plan to apply and what is held. The caller keeps the
// memory (a small state file) and logs, counts and reports the holds.
//
// Rules:
// - A backend's serving nodes are its slots in `ready` with an address and a
//   weight above 0 (a waiting version generation is filled but has weight 0).
// - A step leaves when it takes a serving slot to drain or maint (the node
//   left Consul, went critical or into maintenance); a step joins when it
//   puts a slot into rotation that was not (fill, grow, back from maint, a
//   waiting generation given weight by a version switch).
// - Net loss = leaving - joining, so nodes replaced as they leave and churn
//   of one or two at a time never count.
// - Held when the net loss is at least `minNodes` and more than
//   `maxRemovalFraction` of the serving nodes: the leaving steps are dropped
//   (those nodes stay as they are), every other step is applied.
// - Released when the same removal (the same leaving slots and addresses)
//   has been asked for `holdSeconds`, or when the operator allows it.
import type { Plan, PlanStep, Slot } from "./model.js";
import { SlotIndex } from "./slot-index.js";

export interface MassRemovalPolicy {
  maxRemovalFraction: number;
  minNodes: number;
  holdSeconds: number;
}

/** What the guard remembers per backend between reconciles. */
export interface RememberedHold {
  /** Identifies the removal: the leaving slots with their addresses. */
  signature: string;
  /** When this removal was first seen (ms since the epoch). */
  since: number;
}

export type GuardMemory = Record<string, RememberedHold>;

export interface HeldRemoval {
  backend: string;
  servingBefore: number;
  leaving: number;
  joining: number;
  /** The slots kept as they are, `server address:port`. */
  slots: string[];
  since: number;
  /** When the hold releases by itself if nothing changes (ms since the epoch). */
  releasesAt: number;
}

export interface ReleasedRemoval {
  backend: string;
  leaving: number;
  why: "hold time over" | "allowed by the operator";
}

export interface GuardDecision {
  plan: Plan;
  held: HeldRemoval[];
  released: ReleasedRemoval[];
  memory: GuardMemory;
}

/** In rotation: `ready`, with an address and a weight (a waiting version generation has weight 0). */
function isServing(slot: Slot): boolean {
  return slot.adminState === "ready" && slot.address !== undefined && slot.weight > 0;
}

function targetState(step: PlanStep): string | undefined {
  for (const operation of step.activate) if (operation.kind === "set-state") return operation.state;
  return undefined;
}

function targetWeight(step: PlanStep): number | undefined {
  for (const operation of [...step.prepare, ...step.activate]) if (operation.kind === "set-weight") return operation.weight;
  return undefined;
}

/** Whether the slot is in rotation once the step is applied. */
function servesAfter(step: PlanStep, slot: Slot | undefined): boolean {
  const state = targetState(step) ?? slot?.adminState;
  const weight = targetWeight(step) ?? slot?.weight ?? 0;
  return state === "ready" && weight > 0;
}

function describeSlot(slot: Slot): string {
  const address = slot.address ?? "";
  return `${slot.name} ${address.includes(":") ? `[${address}]` : address}:${slot.port ?? ""}`;
}

/** Whether a net loss of `loss` out of `before` serving nodes is a mass removal. */
export function isMassRemoval(before: number, loss: number, policy: MassRemovalPolicy): boolean {
  return loss >= policy.minNodes && loss > policy.maxRemovalFraction * before;
}

/** `slots`: those the plan was made from, as an array or as the planner's index. */
export function guardMassRemoval(plan: Plan, slots: readonly Slot[] | SlotIndex, policy: MassRemovalPolicy, memory: GuardMemory, now: number, allow: boolean): GuardDecision {
  // Only the slots the plan touches are looked up, and only backends with
  // steps can lose nodes: one change costs what it touches, not the backend's size.
  const touched = new Map<string, Set<string>>();
  for (const step of plan.steps) {
    const servers = touched.get(step.backend) ?? new Set<string>();
    servers.add(step.server);
    touched.set(step.backend, servers);
  }
  const index = SlotIndex.of(slots);
  const dropped = new Set<PlanStep>();
  const held: HeldRemoval[] = [];
  const released: ReleasedRemoval[] = [];
  const nextMemory: GuardMemory = {};

  for (const backend of touched.keys()) {
    const leavingSteps: { step: PlanStep; slot: Slot }[] = [];
    let joining = 0;
    for (const step of plan.steps) {
      if (step.backend !== backend) continue;
      const slot = index.slot(backend, step.server);
      const state = targetState(step);
      if (slot && isServing(slot) && (state === "drain" || state === "maint")) leavingSteps.push({ step, slot });
      // A fill, a slot back from maint, or a waiting generation given weight (a version switch).
      else if (!(slot && isServing(slot)) && servesAfter(step, slot)) joining += 1;
    }
    const loss = leavingSteps.length - joining;
    if (loss < policy.minNodes) continue;
    // A blank slot never serves: the named ones are counted.
    const servingBefore = index.named(backend).filter(isServing).length;
    if (!isMassRemoval(servingBefore, loss, policy)) continue;

    const leavingSlots = leavingSteps.map(({ slot }) => describeSlot(slot)).sort();
    const signature = leavingSlots.join(",");
    const remembered = memory[backend];
    const since = remembered && remembered.signature === signature ? remembered.since : now;
    const releasesAt = since + policy.holdSeconds * 1000;
    if (allow || now >= releasesAt) {
      released.push({ backend, leaving: leavingSteps.length, why: allow ? "allowed by the operator" : "hold time over" });
      continue;
    }
    nextMemory[backend] = { signature, since };
    for (const { step } of leavingSteps) dropped.add(step);
    held.push({ backend, servingBefore, leaving: leavingSteps.length, joining, slots: leavingSlots, since, releasesAt });
  }

  if (dropped.size === 0) return { plan, held, released, memory: nextMemory };
  const drainingDropped = [...dropped].filter((step) => targetState(step) === "drain").length;
  return {
    plan: { ...plan, steps: plan.steps.filter((step) => !dropped.has(step)), draining: Math.max(0, plan.draining - drainingDropped) },
    held,
    released,
    memory: nextMemory,
  };
}

/** One line for logs, /healthz and status. */
export function describeHold(hold: HeldRemoval): string {
  const seconds = Math.max(0, Math.ceil((hold.releasesAt - Date.now()) / 1000));
  return (
    `mass removal held in ${hold.backend}: Consul's answer would take ${hold.leaving - hold.joining} of ${hold.servingBefore} serving nodes out at once; ` +
    `they stay as they are until the same answer has stood for the hold time (${seconds} s left) or 'sync --allow-mass-removal' is run`
  );
}

/** The guard's memory after a reconcile of some backends: the others' holds are kept as they were. */
export function mergeGuardMemory(before: GuardMemory, after: GuardMemory, covered: ReadonlySet<string>): GuardMemory {
  const merged: GuardMemory = {};
  for (const [backend, hold] of Object.entries(before)) if (!covered.has(backend)) merged[backend] = hold;
  return { ...merged, ...after };
}
