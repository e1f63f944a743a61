// An informer-style cache of HAProxy's managed slots, the way a Kubernetes
// controller keeps its cache: read in full once, then kept current from the
// replies of the commands the handler sends itself (each reply is checked by
// the applier). Only what the handler controls is kept current: every slot
// setting of planner/slot-settings.ts (address, weight, maxconn, admin
// state) and checks. HAProxy's own status (UP/DOWN)
// is not (the `status` command reads it fresh), and sessions and seconds
// since the last change are read again, one row each, for the draining slots
// only: they decide when a draining slot is freed.
//
// Read in full again whenever the cache may be wrong: at start, after a
// reload or restart of HAProxy, after any refused command or socket error,
// after another process changed HAProxy (change-stamp.ts), on the periodic
// resync and on POST /watch. A manual `set server` over the admin socket is therefore repaired
// at the next resync, not before.
import { commands, parseShowStat, type RuntimeSession } from "../haproxy-runtime-api/index.js";
import type { PlannerPolicy, PlanStep, Slot, SlotOperation } from "../planner/model.js";
import { settingOf } from "../planner/slot-settings.js";
import type { ApplyReport } from "../applier/apply.js";
import { readSlotRecordsIn, STAT_COLUMNS } from "./reader.js";
import { applyStatRow, type SlotRecord } from "./slots.js";
import { isBlank, SlotIndex } from "../planner/slot-index.js";

/** How the slots of one reconcile were obtained. */
export type ReadKind = "full" | "cached";

function slotKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

/**
 * What a command HAProxy accepted did to the slot: a setting's operation is
 * recorded as its table entry says. False: the effect is not known here (a
 * dynamic server's id), and the cache must be read again.
 */
export function applyOperation(slot: Slot, operation: SlotOperation): boolean {
  switch (operation.kind) {
    case "enable-health":
      slot.checksEnabled = true;
      return true;
    case "set-health":
      // HAProxy's status (UP/DOWN) is not kept.
      return true;
    case "add-server":
      return false;
    default: {
      const stateBefore = slot.adminState;
      settingOf(operation.kind)?.record(slot, operation);
      if (slot.adminState !== stateBefore) slot.secondsSinceChange = 0;
      return true;
    }
  }
}

export class SlotCache {
  private readonly records = new Map<string, SlotRecord>();
  /** The same records per backend, in HAProxy's order: a partial reconcile takes its backends' whole. */
  private readonly byBackend = new Map<string, SlotRecord[]>();
  /** The same slots split for the planner (planner/slot-index.ts), kept current with them: a plan costs what it changes. */
  private index = new SlotIndex([]);
  /** When each slot's admin state last changed (ms since the epoch), for a row without `lastchg`. */
  private readonly changedAt = new Map<string, number>();
  /** Why the cache must be read in full before it is used; undefined while it is current. */
  private staleBecause: string | undefined = "not read yet";
  /** The change stamp seen last (null: none seen yet). */
  private stamp: string | undefined | null = null;

  /** `policy`: every managed backend, what a full read covers. */
  constructor(
    private readonly policy: PlannerPolicy,
    private readonly clock: () => number = Date.now,
  ) {}

  get current(): boolean {
    return this.staleBecause === undefined;
  }

  /** Why the next use reads HAProxy in full (undefined: it will not). */
  get staleReason(): string | undefined {
    return this.staleBecause;
  }

  invalidate(reason: string): void {
    this.staleBecause ??= reason;
  }

  /** The change stamp now (under the lock): one this process did not write means HAProxy was changed by another. */
  noticeStamp(stamp: string | undefined): void {
    if (this.stamp !== null && this.stamp !== stamp) this.invalidate("another handler process changed HAProxy");
    this.stamp = stamp;
  }

  /** The stamp this process just wrote: not a change by another. */
  ownStamp(stamp: string): void {
    this.stamp = stamp;
  }

  /** Replaces everything with a full read. */
  replaceAll(records: readonly SlotRecord[]): void {
    this.records.clear();
    this.byBackend.clear();
    this.changedAt.clear();
    const now = this.clock();
    for (const record of records) {
      const key = slotKey(record.slot.backend, record.slot.name);
      this.records.set(key, record);
      const list = this.byBackend.get(record.slot.backend) ?? [];
      list.push(record);
      this.byBackend.set(record.slot.backend, list);
      this.changedAt.set(key, now - record.slot.secondsSinceChange * 1000);
    }
    this.index = new SlotIndex(records.map((record) => record.slot));
    this.staleBecause = undefined;
  }

  /** The cached slots of these backends (every backend when undefined). */
  slots(backends?: ReadonlySet<string>): Slot[] {
    const slots: Slot[] = [];
    for (const [backend, records] of this.byBackend) {
      if (backends === undefined || backends.has(backend)) for (const record of records) slots.push(record.slot);
    }
    return slots;
  }

  /**
   * After an apply: the steps whose every command HAProxy accepted change
   * their cached slots. A refused command leaves the slot's state unknown:
   * the whole cache is read again next time.
   */
  recordApplied(report: ApplyReport): void {
    if (report.failures.length > 0) {
      this.invalidate(`${report.failures.length} command(s) refused by HAProxy`);
      return;
    }
    for (const step of report.applied) this.recordStep(step);
  }

  private recordStep(step: PlanStep): void {
    const key = slotKey(step.backend, step.server);
    const record = this.records.get(key);
    if (!record) {
      this.invalidate(`a slot the cache does not know: ${step.backend}/${step.server}`);
      return;
    }
    const stateBefore = record.slot.adminState;
    const wasBlank = isBlank(record.slot);
    for (const operation of [...step.prepare, ...step.activate]) {
      if (!applyOperation(record.slot, operation)) this.invalidate(`${operation.kind} on ${step.backend}/${step.server}`);
    }
    this.index.update(record.slot, wasBlank);
    if (record.slot.adminState !== stateBefore) this.changedAt.set(key, this.clock());
  }

  /**
   * The slots for a plan of `backends`, on an open session: a full read when
   * the cache is not current, else the cache with the draining slots' rows
   * read again (`show stat <backend> 4 <id>`, one row each). The index holds
   * every managed backend; the plan's policy says which it looks at.
   */
  async slotsFor(session: RuntimeSession, backends: ReadonlySet<string>): Promise<{ slots: SlotIndex; read: ReadKind }> {
    if (this.current && (await this.refreshDraining(session, backends))) return { slots: this.index, read: "cached" };
    this.replaceAll(await readSlotRecordsIn(session, this.policy));
    return { slots: this.index, read: "full" };
  }

  /** False when a row could not be read (the slot is gone, or the id changed): read in full. */
  private async refreshDraining(session: RuntimeSession, backends: ReadonlySet<string>): Promise<boolean> {
    const draining: SlotRecord[] = [];
    // A draining slot is a named one (not in maint).
    for (const backend of backends) {
      for (const named of this.index.namedByClass(backend)) {
        for (const slot of named) {
          const record = slot.adminState === "drain" ? this.records.get(slotKey(slot.backend, slot.name)) : undefined;
          if (record !== undefined) draining.push(record);
        }
      }
    }
    if (draining.length === 0) return true;
    const replies = await session.execute(draining.map(({ slot, serverId }) => commands.showServerStat(slot.backend, serverId)));
    for (const [index, reply] of replies.entries()) {
      const record = draining[index];
      if (!record) continue;
      const row = reply.ok ? parseShowStat(reply.output, STAT_COLUMNS)[0] : undefined;
      if (!row || row.svname !== record.slot.name || row.pxname !== record.slot.backend) {
        this.invalidate(`the row of ${record.slot.backend}/${record.slot.name} could not be read`);
        return false;
      }
      const since = this.changedAt.get(slotKey(record.slot.backend, record.slot.name)) ?? this.clock();
      const wasBlank = isBlank(record.slot);
      applyStatRow(record.slot, row, Math.max(0, Math.floor((this.clock() - since) / 1000)));
      this.index.update(record.slot, wasBlank);
    }
    return true;
  }
}
