// The slots a plan reads, by backend and slot class, with the blank slots (in
// maint and without an address: free for any node) kept apart from the named
// ones (a node's address, or not in maint). Most of a large backend is blank,
// and a change touches a few named slots and the lowest blank ones, so a plan
// over the index costs what the change touches whatever the number of slots
// (issue 20). `run`'s cache of HAProxy keeps one index current between
// reconciles (update); an array of slots (a one-shot process, a test) is
// indexed once (SlotIndex.of).
import type { Slot } from "./model.js";

/** The slots of one class of one backend, each list lowest number first. */
export interface ClassSlots {
  /** Slots that name a node's address or are not in maint. */
  readonly named: readonly Slot[];
  /** Blank slots: in maint, no address. */
  readonly blank: readonly Slot[];
  /** The highest slot number of the class; 0 when it has none. */
  readonly highest: number;
  /** How many slots the class has. */
  readonly count: number;
}

interface ClassLists {
  named: Slot[];
  blank: Slot[];
  highest: number;
}

const NO_SLOTS: ClassSlots = { named: [], blank: [], highest: 0, count: 0 };

/** In maint and without an address: a slot any node may be given. */
export function isBlank(slot: Slot): boolean {
  return slot.adminState === "maint" && slot.address === undefined;
}

/** Where `slot` goes in `list` (lowest number first): the first position whose number is not lower. */
function positionOf(list: readonly Slot[], number: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((list[middle] as Slot).number < number) low = middle + 1;
    else high = middle;
  }
  return low;
}

function classKey(backend: string, prefix: string): string {
  return `${backend}\u0000${prefix}`;
}

function slotKey(backend: string, name: string): string {
  return `${backend}/${name}`;
}

export class SlotIndex {
  private readonly classes = new Map<string, ClassLists>();
  private readonly byBackend = new Map<string, ClassLists[]>();
  private readonly byName = new Map<string, Slot>();

  constructor(slots: Iterable<Slot>) {
    for (const slot of slots) {
      this.byName.set(slotKey(slot.backend, slot.name), slot);
      const lists = this.listsOf(slot);
      (isBlank(slot) ? lists.blank : lists.named).push(slot);
      lists.highest = Math.max(lists.highest, slot.number);
    }
    const byNumber = (a: Slot, b: Slot): number => a.number - b.number;
    for (const lists of this.classes.values()) {
      lists.named.sort(byNumber);
      lists.blank.sort(byNumber);
    }
  }

  /** `slots` as an index: an index as it is, an array indexed once. */
  static of(slots: readonly Slot[] | SlotIndex): SlotIndex {
    return slots instanceof SlotIndex ? slots : new SlotIndex(slots);
  }

  private listsOf(slot: Slot): ClassLists {
    const key = classKey(slot.backend, slot.prefix);
    let lists = this.classes.get(key);
    if (lists === undefined) {
      lists = { named: [], blank: [], highest: 0 };
      this.classes.set(key, lists);
      const ofBackend = this.byBackend.get(slot.backend) ?? [];
      ofBackend.push(lists);
      this.byBackend.set(slot.backend, ofBackend);
    }
    return lists;
  }

  /** One class's slots (none: empty lists). */
  classSlots(backend: string, prefix: string): ClassSlots {
    const lists = this.classes.get(classKey(backend, prefix));
    return lists === undefined ? NO_SLOTS : { named: lists.named, blank: lists.blank, highest: lists.highest, count: lists.named.length + lists.blank.length };
  }

  /** A slot by its backend and server name. */
  slot(backend: string, name: string): Slot | undefined {
    return this.byName.get(slotKey(backend, name));
  }

  /** The named slots of one backend, or of every backend indexed: what the guard counts and versioning looks at. */
  named(backend?: string): Slot[] {
    const lists = backend === undefined ? [...this.classes.values()] : (this.byBackend.get(backend) ?? []);
    return lists.flatMap((each) => each.named);
  }

  /** The named slots of one backend, one list per class, as the index keeps them (nothing copied: read, do not keep). */
  namedByClass(backend: string): readonly (readonly Slot[])[] {
    return (this.byBackend.get(backend) ?? []).map((lists) => lists.named);
  }

  /** Every slot: for the rare paths that need them all (a restored hold). */
  all(): Slot[] {
    return [...this.classes.values()].flatMap((lists) => [...lists.named, ...lists.blank]);
  }

  /**
   * After one of the index's slots changed in place (a command HAProxy
   * accepted, a row read again): moves it between blank and named when that
   * changed. `wasBlank`: isBlank(slot) before the change.
   */
  update(slot: Slot, wasBlank: boolean): void {
    const blankNow = isBlank(slot);
    if (blankNow === wasBlank) return;
    const lists = this.classes.get(classKey(slot.backend, slot.prefix));
    if (lists === undefined) return;
    const [from, to] = wasBlank ? [lists.blank, lists.named] : [lists.named, lists.blank];
    const at = positionOf(from, slot.number);
    if (from[at] === slot) from.splice(at, 1);
    to.splice(positionOf(to, slot.number), 0, slot);
  }
}
