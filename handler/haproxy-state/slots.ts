// Actual state: turns what HAProxy reports (`show servers state` joined with
// `show stat`) into the planner's Slot records. Pure, so the join rules are
// unit-tested on real captured output.
import type { ServerStateRow, StatRow } from "../haproxy-runtime-api/index.js";
import type { AdminState, Slot } from "../planner/model.js";

/** HAProxy's SRV_ADMF_* bits (`srv_admin_state`). */
const ADMIN_FORCED_MAINT = 0x01;
const ADMIN_INHERITED_MAINT = 0x02;
const ADMIN_RESOLUTION_MAINT = 0x20;
const ADMIN_FORCED_DRAIN = 0x08;
const ADMIN_INHERITED_DRAIN = 0x10;
// SRV_ADMF_CMAINT (0x04, "disabled" in the config) stays set after `state
// ready` on 2.6 while the server runs (tested), so it does not mean maint:
// a template slot that is really down also carries FMAINT (0x01).
const ADMIN_ANY_MAINT = ADMIN_FORCED_MAINT | ADMIN_INHERITED_MAINT | ADMIN_RESOLUTION_MAINT;
const ADMIN_ANY_DRAIN = ADMIN_FORCED_DRAIN | ADMIN_INHERITED_DRAIN;
/** HAProxy's CHK_ST_CONFIGURED bit (`srv_check_state`): the server has `check`. */
const CHECK_CONFIGURED = 0x02;

export function adminStateFromBits(bits: number): AdminState {
  if (bits & ADMIN_ANY_MAINT) return "maint";
  if (bits & ADMIN_ANY_DRAIN) return "drain";
  return "ready";
}

/** Splits `irisrv12` into prefix `irisrv` and number 12, for the known prefixes only. */
export function slotNumber(serverName: string, prefix: string): number | undefined {
  if (!serverName.startsWith(prefix)) return undefined;
  const rest = serverName.slice(prefix.length);
  if (!/^[1-9]\d{0,6}$/.test(rest)) return undefined;
  return Number(rest);
}

function wholeNumber(text: string | undefined): number {
  const value = Number(text);
  return Number.isFinite(value) && text !== "" ? value : 0;
}

/** A slot and HAProxy's id of its server (`srv_id`), which `show stat <backend> 4 <id>` takes. */
export interface SlotRecord {
  slot: Slot;
  serverId: number;
}

/** The row-level part of a slot: what `show stat` says (sessions, seconds since the last change). */
export function applyStatRow(slot: Slot, stat: StatRow | undefined, fallbackSecondsSinceChange: number): void {
  slot.status = stat?.["status"] ?? "";
  slot.maxconn = wholeNumber(stat?.["slim"]);
  slot.sessions = wholeNumber(stat?.["scur"]);
  slot.secondsSinceChange = stat?.["lastchg"] ? wholeNumber(stat["lastchg"]) : fallbackSecondsSinceChange;
}

/**
 * Builds the slots of the given backends and prefixes. Servers with other
 * names are not ours and are never touched.
 */
export function slotsFromRuntime(states: readonly ServerStateRow[], stats: readonly StatRow[], managed: ReadonlyMap<string, readonly string[]>): Slot[] {
  return slotRecordsFromRuntime(states, stats, managed).map((record) => record.slot);
}

export function slotRecordsFromRuntime(states: readonly ServerStateRow[], stats: readonly StatRow[], managed: ReadonlyMap<string, readonly string[]>): SlotRecord[] {
  const statByServer = new Map<string, StatRow>();
  for (const row of stats) statByServer.set(`${row.pxname}/${row.svname}`, row);
  // The longest prefix first, so `irisrvtls1` is not read as `irisrv` + `tls1`.
  const longestFirst = new Map([...managed].map(([backend, prefixes]) => [backend, [...prefixes].sort((a, b) => b.length - a.length)]));
  const records: SlotRecord[] = [];
  for (const state of states) {
    const prefixes = longestFirst.get(state.backendName);
    if (!prefixes) continue;
    const prefix = prefixes.find((candidate) => slotNumber(state.serverName, candidate) !== undefined);
    if (prefix === undefined) continue;
    const stat = statByServer.get(`${state.backendName}/${state.serverName}`);
    const hasAddress = state.address !== "" && state.address !== "-" && state.address !== "0.0.0.0" && state.address !== "::";
    const slot: Slot = {
      backend: state.backendName,
      name: state.serverName,
      prefix,
      number: slotNumber(state.serverName, prefix) ?? 0,
      adminState: adminStateFromBits(state.adminState),
      status: "",
      checksEnabled: (state.checkState & CHECK_CONFIGURED) !== 0,
      weight: state.userWeight,
      maxconn: 0,
      sessions: 0,
      secondsSinceChange: 0,
    };
    applyStatRow(slot, stat, state.secondsSinceLastChange);
    if (hasAddress) {
      slot.address = state.address;
      slot.port = state.port;
    }
    records.push({ slot, serverId: state.serverId });
  }
  return records;
}
