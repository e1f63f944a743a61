// `status`: every managed slot, joined with the Consul instance behind it.
// HAProxy is read first; if Consul cannot be trusted right now the table is
// still shown, with the Consul columns marked unknown and a warning.
import type { Endpoint, Slot } from "../planner/model.js";
import { planReconcile } from "../planner/plan.js";
import { nodesLeftOut, readDesired, readSlots, type DesiredState, type HandlerContext, type NodeLeftOut } from "../reconcile/reconcile.js";
import { ConsulUntrusted } from "../source/consul-source.js";

export interface SlotStatus {
  backend: string;
  slot: string;
  state: string;
  status: string;
  /** null for a free slot: what a freed slot still holds is not shown. */
  address: string | null;
  weight: number | null;
  maxconn: number | null;
  sessions: number;
  serviceId: string | null;
  health: string | null;
}

export interface StatusReport {
  consul: { trusted: boolean; problem?: string };
  /** leftOut: every node missing from the backend and why (empty while Consul is not trusted). */
  backends: { backend: string; used: number; free: number; slots: SlotStatus[]; leftOut: NodeLeftOut[] }[];
}

function describeAddress(slot: Slot): string | null {
  if (slot.address === undefined) return null;
  return slot.address.includes(":") ? `[${slot.address}]:${slot.port ?? ""}` : `${slot.address}:${slot.port ?? ""}`;
}

export async function collectStatus(context: HandlerContext): Promise<StatusReport> {
  const slots = await readSlots(context);
  let desired: DesiredState | undefined;
  let problem: string | undefined;
  try {
    desired = await readDesired(context);
  } catch (error) {
    if (!(error instanceof ConsulUntrusted)) throw error;
    problem = error.message;
  }
  const byAddress = new Map<string, Endpoint>();
  for (const endpoint of desired?.endpoints ?? []) byAddress.set(`${endpoint.serviceName}|${endpoint.address}|${endpoint.port}`, endpoint);
  const leftOut = desired ? nodesLeftOut(context.policy, desired.rejected, planReconcile(desired.endpoints, slots, context.policy)) : new Map<string, NodeLeftOut[]>();

  const report: StatusReport = { consul: problem === undefined ? { trusted: true } : { trusted: false, problem }, backends: [] };
  const seen = new Set<string>();
  for (const backend of context.policy.backends) {
    if (seen.has(backend.backend)) continue;
    seen.add(backend.backend);
    const own = slots.filter((slot) => slot.backend === backend.backend).sort((a, b) => a.prefix.localeCompare(b.prefix) || a.number - b.number);
    const holder = (slot: Slot): Endpoint | undefined => (slot.address !== undefined ? byAddress.get(`${backend.serviceName}|${slot.address}|${slot.port ?? 0}`) : undefined);
    // A slot in maint is free unless it is kept for a node that is critical
    // (the planner keeps such a node's slot); a maint slot that merely still
    // names an address, even one a new node now registers with, is free.
    const isFree = (slot: Slot): boolean => slot.adminState === "maint" && holder(slot)?.health !== "critical";
    const rows = own.map<SlotStatus>((slot) => {
      if (isFree(slot)) {
        return { backend: backend.backend, slot: slot.name, state: slot.adminState, status: slot.status, address: null, weight: null, maxconn: null, sessions: slot.sessions, serviceId: null, health: null };
      }
      const endpoint = holder(slot);
      return {
        backend: backend.backend,
        slot: slot.name,
        state: slot.adminState,
        status: slot.status,
        address: describeAddress(slot),
        weight: slot.weight,
        maxconn: slot.maxconn,
        sessions: slot.sessions,
        serviceId: endpoint?.serviceId ?? null,
        health: endpoint ? endpoint.health : desired === undefined ? null : slot.address !== undefined ? "not in Consul" : null,
      };
    });
    const free = own.filter(isFree).length;
    report.backends.push({ backend: backend.backend, used: own.length - free, free, slots: rows, leftOut: leftOut.get(backend.backend) ?? [] });
  }
  return report;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n");
}

/** Human-readable: one block per backend; empty free slots are summarised, not listed. */
export function formatStatus(report: StatusReport, options: { all?: boolean } = {}): string {
  const lines: string[] = [];
  if (!report.consul.trusted) lines.push(`WARNING: Consul view unavailable, service IDs and health unknown: ${report.consul.problem ?? ""}`, "");
  for (const backend of report.backends) {
    lines.push(`backend ${backend.backend}: ${backend.used} used, ${backend.free} free of ${backend.slots.length} slots`);
    const shown = options.all ? backend.slots : backend.slots.filter((slot) => slot.address !== null || slot.state !== "maint");
    if (shown.length > 0) {
      const header = ["SLOT", "STATE", "STATUS", "ADDRESS", "WEIGHT", "MAXCONN", "SESS", "SERVICE ID", "HEALTH"];
      const body = shown.map((slot) => [
        slot.slot,
        slot.state,
        slot.status,
        slot.address ?? "-",
        slot.weight === null ? "-" : String(slot.weight),
        slot.maxconn === null || slot.maxconn === 0 ? "-" : String(slot.maxconn),
        String(slot.sessions),
        slot.serviceId ?? "-",
        slot.health ?? (report.consul.trusted ? "-" : "?"),
      ]);
      lines.push(table([header, ...body]).replace(/^/gm, "  "));
    }
    const hidden = backend.slots.length - shown.length;
    if (hidden > 0) lines.push(`  (${hidden} empty slots in maint not shown; --all lists them)`);
    for (const node of backend.leftOut) lines.push(`  left out: ${node.serviceId}: ${node.reason}`);
    lines.push("");
  }
  return lines.join("\n");
}
