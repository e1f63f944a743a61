// The one Slot builder of the unit tests: a slot as HAProxy reports it
// before the handler touched it (a `server-template` slot: maint, checks on,
// weight 1, no maxconn), with the fields a test needs changed on top.
import type { Slot } from "../../handler/planner/model.js";
import { UNREAD_SLOT_SETTINGS } from "../../handler/planner/slot-settings.js";

/** One free slot `<prefix><number>` of `backend`, with `changes` on top. */
export function freeSlot(backend: string, number: number, prefix = "srv", changes: Partial<Slot> = {}): Slot {
  return {
    ...UNREAD_SLOT_SETTINGS,
    backend,
    name: `${prefix}${number}`,
    prefix,
    number,
    adminState: "maint",
    status: "MAINT",
    checksEnabled: true,
    weight: 1,
    maxconn: 0,
    sessions: 0,
    secondsSinceChange: 100,
    ...changes,
  };
}

/** Slots 1..count of one class, all free. */
export function emptySlots(backend: string, count: number, prefix = "srv"): Slot[] {
  return Array.from({ length: count }, (_, index) => freeSlot(backend, index + 1, prefix));
}
