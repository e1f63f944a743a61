// Held removals survive an HAProxy restart. While the mass-removal guard
// holds a removal, the nodes it keeps are in HAProxy only: Consul no longer
// lists them. An HAProxy restarted without a slots file (or with one that is
// not current) starts with empty slots, and the plan, made from Consul, would
// never put them back: the hold would hold nothing.
//
// So the slots a hold keeps are remembered (address, port, weight, maxconn)
// in a small file beside the lock file, with the hold's start. Before the
// next plan, a kept slot that HAProxy lost is planned as if it were there
// (the guard then sees the same removal and keeps holding it), and steps that
// put it back are applied with the plan. A kept slot whose node the plan
// now takes out (the hold released) is not put back.
import { loadStateFile, saveStateFile } from "./state-file.js";
import type { PlanStep, PlannerPolicy, Slot, SlotOperation } from "../planner/model.js";
import { SlotIndex } from "../planner/slot-index.js";
import type { GuardMemory, HeldRemoval } from "../planner/mass-removal.js";

export interface KeptSlot {
  backend: string;
  server: string;
  address: string;
  port: number;
  weight: number;
  maxconn: number;
  /** The hold it belongs to (its `since`): a kept slot of an older hold is forgotten. */
  since: number;
}

export function keptSlotsPath(lockFile: string): string {
  return `${lockFile}.held-slots.json`;
}

function isKept(value: unknown): value is KeptSlot {
  if (typeof value !== "object" || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields["backend"] === "string" &&
    typeof fields["server"] === "string" &&
    typeof fields["address"] === "string" &&
    ["port", "weight", "maxconn", "since"].every((key) => typeof fields[key] === "number" && Number.isFinite(fields[key]))
  );
}

/** The kept slots; a missing or unreadable file keeps none (a restart then loses the held nodes, as before). */
export function loadKeptSlots(lockFile: string): KeptSlot[] {
  const parsed = loadStateFile(keptSlotsPath(lockFile));
  return Array.isArray(parsed) ? parsed.filter(isKept) : [];
}

export function saveKeptSlots(lockFile: string, kept: readonly KeptSlot[]): void {
  saveStateFile(keptSlotsPath(lockFile), kept.length === 0 ? undefined : kept);
}

/** How the guard names a slot in a hold (`server address:port`). */
export function describeKept(server: string, address: string, port: number): string {
  return `${server} ${address.includes(":") ? `[${address}]` : address}:${port}`;
}

function holds(slot: Slot, kept: KeptSlot): boolean {
  return slot.address === kept.address && slot.port === kept.port;
}

export interface Restoration {
  /** HAProxy's slots with every lost kept slot in place: what the planner and the guard see (the index given, when nothing was lost). */
  slots: SlotIndex;
  /** The kept slots HAProxy lost, by `backend/server`. */
  lost: Map<string, KeptSlot>;
}

/** Kept slots of holds still remembered (same start) that HAProxy no longer holds, planned as if they were there. */
export function restoreKept(slots: readonly Slot[] | SlotIndex, kept: readonly KeptSlot[], memory: GuardMemory): Restoration {
  const index = SlotIndex.of(slots);
  const lost = new Map<string, KeptSlot>();
  for (const each of kept) {
    if (memory[each.backend]?.since !== each.since) continue;
    const slot = index.slot(each.backend, each.server);
    if (slot && !holds(slot, each) && slot.address === undefined) lost.set(`${each.backend}/${each.server}`, each);
  }
  if (lost.size === 0) return { slots: index, lost };
  // Copies: the slots given (run's cache) stay what HAProxy has.
  const restored = index.all().map((slot): Slot => {
    const each = lost.get(`${slot.backend}/${slot.name}`);
    return each ? { ...slot, address: each.address, port: each.port, weight: each.weight, maxconn: each.maxconn, adminState: "ready", status: "UP" } : slot;
  });
  return { slots: new SlotIndex(restored), lost };
}

function leaves(step: PlanStep): boolean {
  return step.activate.some((operation) => operation.kind === "set-state" && operation.state !== "ready");
}

/**
 * The steps to apply: a lost kept slot is put back first (the plan's own step
 * for it, an update, follows), unless the plan takes its node out (the hold
 * released): then the slot is already as the plan wants it, empty.
 */
export function withRestores(steps: readonly PlanStep[], restoration: Restoration, policy: PlannerPolicy): PlanStep[] {
  if (restoration.lost.size === 0) return [...steps];
  const restores: PlanStep[] = [];
  const dropped = new Set<PlanStep>();
  for (const [key, each] of restoration.lost) {
    const own = steps.filter((step) => `${step.backend}/${step.server}` === key);
    if (own.some(leaves)) {
      for (const step of own) dropped.add(step);
      continue;
    }
    const activate: SlotOperation[] = [{ kind: "set-state", state: "ready" }];
    const slot = restoration.slots.slot(each.backend, each.server);
    if (slot?.checksEnabled && policy.holdDownUntilChecked) activate.push({ kind: "set-health", health: "down" });
    restores.push({
      backend: each.backend,
      server: each.server,
      reason: "restore: a held node HAProxy lost in a restart",
      prepare: [
        { kind: "set-addr", address: each.address, port: each.port },
        { kind: "set-weight", weight: each.weight },
        { kind: "set-maxconn", maxconn: each.maxconn },
      ],
      activate,
    });
  }
  return [...restores, ...steps.filter((step) => !dropped.has(step))];
}

/** The slots the holds keep now, from what the planner saw (restored slots included). */
export function keptByHolds(held: readonly HeldRemoval[], slots: readonly Slot[] | SlotIndex): KeptSlot[] {
  const kept: KeptSlot[] = [];
  const index = SlotIndex.of(slots);
  for (const hold of held) {
    const names = new Set(hold.slots);
    // A held slot names its node's address: a named one.
    for (const slot of index.named(hold.backend)) {
      if (slot.address === undefined || slot.port === undefined) continue;
      if (!names.has(describeKept(slot.name, slot.address, slot.port))) continue;
      kept.push({ backend: slot.backend, server: slot.name, address: slot.address, port: slot.port, weight: slot.weight, maxconn: slot.maxconn, since: hold.since });
    }
  }
  return kept;
}
