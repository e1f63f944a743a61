// Actual state: turns what HAProxy reports (`show servers state` joined with
// `show stat`) into the planner's Slot records. Pure, so the join rules are
// unit-tested on real captured output.
import type { ServerStateRow, StatRow } from "../haproxy-runtime-api/index.js";
import type { Slot } from "../planner/model.js";
import { SETTINGS, UNREAD_SLOT_SETTINGS, wholeNumber } from "../planner/slot-settings.js";

/** HAProxy's CHK_ST_CONFIGURED bit (`srv_check_state`): the server has `check`. */
const CHECK_CONFIGURED = 0x02;

/** Splits `irisrv12` into prefix `irisrv` and number 12, for the known prefixes only. */
export function slotNumber(serverName: string, prefix: string): number | undefined {
  if (!serverName.startsWith(prefix)) return undefined;
  const rest = serverName.slice(prefix.length);
  if (!/^[1-9]\d{0,6}$/.test(rest)) return undefined;
  return Number(rest);
}

/**
 * The `show servers state` columns the settings read (planner/slot-settings.ts
 * `reportedIn`), by HAProxy's name, as parse.ts reads them into a row. A
 * setting that names another column reads nothing (a unit test checks each
 * named column has its field here).
 */
export const SERVERS_STATE_COLUMNS: Readonly<Record<string, keyof ServerStateRow>> = {
  srv_addr: "address",
  srv_port: "port",
  srv_admin_state: "adminState",
  srv_uweight: "userWeight",
};

function serversStateColumn(row: ServerStateRow, name: string): string | undefined {
  const field = SERVERS_STATE_COLUMNS[name];
  return field === undefined ? undefined : String(row[field]);
}

/** The slot settings reported in `show servers state` (those in `show stat` are applyStatRow's). */
function readServersStateSettings(slot: Slot, state: ServerStateRow): void {
  for (const entry of SETTINGS) {
    if (entry.reportedIn.command !== "show servers state") continue;
    const operation = entry.read((name) => serversStateColumn(state, name));
    if (operation) entry.record(slot, operation);
  }
}

/** A slot and HAProxy's id of its server (`srv_id`), which `show stat <backend> 4 <id>` takes. */
export interface SlotRecord {
  slot: Slot;
  serverId: number;
}

/** The row-level part of a slot: what `show stat` says (its settings there, sessions, seconds since the last change). */
export function applyStatRow(slot: Slot, stat: StatRow | undefined, fallbackSecondsSinceChange: number): void {
  slot.status = stat?.["status"] ?? "";
  for (const entry of SETTINGS) {
    if (entry.reportedIn.command !== "show stat") continue;
    const operation = entry.read((name) => stat?.[name]);
    if (operation) entry.record(slot, operation);
  }
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
    // The settings (address, weight, maxconn, state) are filled in from their reports below.
    const slot: Slot = {
      ...UNREAD_SLOT_SETTINGS,
      backend: state.backendName,
      name: state.serverName,
      prefix,
      number: slotNumber(state.serverName, prefix) ?? 0,
      status: "",
      checksEnabled: (state.checkState & CHECK_CONFIGURED) !== 0,
      sessions: 0,
      secondsSinceChange: 0,
    };
    readServersStateSettings(slot, state);
    applyStatRow(slot, stat, state.secondsSinceLastChange);
    records.push({ slot, serverId: state.serverId });
  }
  return records;
}
