// Reads HAProxy's actual state of the managed slots over the runtime API:
// `show servers state` and `show stat` (servers only) per managed backend, so
// the output to parse stays proportional to what the handler manages.
import { RuntimeApiError, commands, parseShowServersState, parseShowStat, type RuntimeSession } from "../haproxy-runtime-api/index.js";
import type { PlannerPolicy, Slot } from "../planner/model.js";
import { managedPrefixes } from "../planner/selection.js";
import { SETTINGS } from "../planner/slot-settings.js";
import { slotRecordsFromRuntime, type SlotRecord } from "./slots.js";

/** The `show stat` columns the slots need (see slots.ts): status, sessions, last change and the settings reported there (maxconn: `slim`). */
export const STAT_COLUMNS: readonly string[] = ["status", "scur", "lastchg", ...SETTINGS.filter((entry) => entry.reportedIn.command === "show stat").flatMap((entry) => entry.reportedIn.columns)];

/** Every managed slot with HAProxy's server id (for reading one slot's row later). */
export async function readSlotRecordsIn(session: RuntimeSession, policy: PlannerPolicy): Promise<SlotRecord[]> {
  const managed = managedPrefixes(policy);
  const backends = [...managed.keys()];
  const replies = await session.execute(backends.flatMap((backend) => [commands.showServersState(backend), commands.showStat(backend)]));
  const mayBeMissing = new Set(policy.backends.filter((backend) => backend.mayBeMissing === true).map((backend) => backend.backend));
  const read = backends.map((backend, index) => ({ backend, state: replies[index * 2], stat: replies[index * 2 + 1] }));
  for (const { backend, state, stat } of read) {
    // HAProxy's answers for a backend it does not have (2.6 to 3.2).
    if (mayBeMissing.has(backend) && state?.output.startsWith("Can't find backend") && stat?.output.startsWith("No such proxy")) continue;
    const refused = [state, stat].find((reply) => reply !== undefined && !reply.ok);
    if (refused) {
      throw new RuntimeApiError(`HAProxy refused '${refused.command}': ${refused.output.trim()}; check the backend names in the config (check-config) and that the socket is at level admin`);
    }
  }
  const present = read.filter(({ state }) => state?.ok === true);
  const states = present.flatMap(({ state }) => parseShowServersState(state?.output ?? ""));
  const stats = present.flatMap(({ stat }) => parseShowStat(stat?.output ?? "", STAT_COLUMNS));
  return slotRecordsFromRuntime(states, stats, managed);
}

/** Every managed slot, read fresh on an open session. */
export async function readSlotsIn(session: RuntimeSession, policy: PlannerPolicy): Promise<Slot[]> {
  return (await readSlotRecordsIn(session, policy)).map((record) => record.slot);
}
