// `status`: every managed slot, joined with the Consul instance behind it.
// HAProxy is read first; if Consul cannot be trusted right now the table is
// still shown, with the Consul columns marked unknown and a warning.
import type { Endpoint, GenerationSummary, Slot, VersionDecision } from "../planner/model.js";
import { decideAllVersions, planReconcile } from "../planner/plan.js";
import { SETTINGS, type StatusField } from "../planner/slot-settings.js";
import type { HandlerContext } from "../reconcile/context.js";
import { readDesired, readPromoted, readSlots } from "../reconcile/reads.js";
import { nodesLeftOut, type NodeLeftOut } from "./report.js";
import type { DesiredState } from "../source/desired.js";
import { ConsulUntrusted } from "../source/consul-untrusted.js";
import { loadGuardMemory } from "../reconcile/mass-removal-store.js";
import { describePortmapHold, readPortmapStatus, type PortmapStatus } from "./portmap-check.js";
import { CertificateStore, type CertificateRecord } from "../certificates/store.js";

/**
 * One slot's row. Besides these, every setting `status` shows (the table's
 * `status` columns: weight, maxconn) is a field of its own, null for a free slot.
 */
export type SlotStatus = SlotStatusFields & { [F in StatusField]: number | null };

interface SlotStatusFields {
  backend: string;
  slot: string;
  state: string;
  status: string;
  /** null for a free slot: what a freed slot still holds is not shown. */
  address: string | null;
  sessions: number;
  serviceId: string | null;
  health: string | null;
  /** With versioning on: the node's version (null when it announces none) and its generation's role. */
  version?: string | null;
  role?: string | null;
}

export interface ServiceVersions {
  service: string;
  serving: string | null;
  canary: string | null;
  promoted: string | null;
  generations: GenerationSummary[];
}

export interface StatusReport {
  consul: { trusted: boolean; problem?: string };
  /** leftOut: every node missing from the backend and why (empty while Consul is not trusted). */
  backends: { backend: string; used: number; free: number; slots: SlotStatus[]; leftOut: NodeLeftOut[] }[];
  /** Removals the mass-removal guard holds back (from its state file beside the lock file). */
  massRemovalHeld: { backend: string; since: string; releasesAt: string; slots: string }[];
  versions: ServiceVersions[];
  /** lb.enabled: the portmap's folder as read now (its entries canonically), and a held emptied portmap. */
  portmap?: Omit<PortmapStatus, "spec">;
  /** lb.enabled: the certificates certificate_name asked for (lb.certificateStateDirectory), or why they cannot be read. */
  certificates?: CertificateRecord[] | { problem: string };
}

/** The settings `status` shows, from the slot (null: a free slot, nothing shown). */
function settingValues(slot: Slot | null): Record<StatusField, number | null> {
  const values = {} as Record<StatusField, number | null>;
  for (const entry of SETTINGS) if (entry.status) values[entry.status.field] = slot === null ? null : entry.status.value(slot);
  return values;
}

function describeAddress(slot: Slot): string | null {
  if (slot.address === undefined) return null;
  return slot.address.includes(":") ? `[${slot.address}]:${slot.port ?? ""}` : `${slot.address}:${slot.port ?? ""}`;
}

export async function collectStatus(context: HandlerContext): Promise<StatusReport> {
  const slots = await readSlots(context);
  let desired: DesiredState | undefined;
  let promoted = new Map<string, string>();
  let problem: string | undefined;
  try {
    desired = await readDesired(context);
    promoted = await readPromoted(context);
  } catch (error) {
    if (!(error instanceof ConsulUntrusted)) throw error;
    problem = error.message;
  }
  const byAddress = new Map<string, Endpoint>();
  // A backend with its own port (a portmap entry's `:<port>`) reaches every instance there: match those by address.
  const byHost = new Map<string, Endpoint>();
  for (const endpoint of desired?.endpoints ?? []) {
    byAddress.set(`${endpoint.serviceName}|${endpoint.address}|${endpoint.port}`, endpoint);
    byHost.set(`${endpoint.serviceName}|${endpoint.address}`, endpoint);
  }
  const leftOut = desired ? nodesLeftOut(context.policy, desired.rejected, planReconcile(desired.endpoints, slots, context.policy, { promoted })) : new Map<string, NodeLeftOut[]>();

  const holdMs = context.config.policy.massRemovalHoldSeconds * 1000;
  const massRemovalHeld = Object.entries(loadGuardMemory(context.config.lockFile)).map(([backend, hold]) => ({
    backend,
    since: new Date(hold.since).toISOString(),
    releasesAt: new Date(hold.since + holdMs).toISOString(),
    slots: hold.signature,
  }));
  const report: StatusReport = { consul: problem === undefined ? { trusted: true } : { trusted: false, problem }, backends: [], massRemovalHeld, versions: [] };
  // The same decision the planner makes: after a reconcile it is what HAProxy shows.
  const decisions: Map<string, VersionDecision> = desired === undefined ? new Map() : decideAllVersions(desired.endpoints, slots, context.policy, { promoted });
  for (const decision of decisions.values()) {
    report.versions.push({ service: decision.serviceName, serving: decision.serving ?? null, canary: decision.canary ?? null, promoted: decision.promoted ?? null, generations: decision.generations });
  }
  const seen = new Set<string>();
  for (const backend of context.policy.backends) {
    if (seen.has(backend.backend)) continue;
    seen.add(backend.backend);
    const own = slots.filter((slot) => slot.backend === backend.backend).sort((a, b) => a.prefix.localeCompare(b.prefix) || a.number - b.number);
    const holder = (slot: Slot): Endpoint | undefined => {
      if (slot.address === undefined) return undefined;
      if (backend.port !== undefined) return slot.port === backend.port ? byHost.get(`${backend.serviceName}|${slot.address}`) : undefined;
      return byAddress.get(`${backend.serviceName}|${slot.address}|${slot.port ?? 0}`);
    };
    // A slot in maint is free unless it is kept for a node that is critical
    // (the planner keeps such a node's slot); a maint slot that merely still
    // names an address, even one a new node now registers with, is free.
    const isFree = (slot: Slot): boolean => slot.adminState === "maint" && holder(slot)?.health !== "critical";
    const rows = own.map<SlotStatus>((slot) => {
      if (isFree(slot)) {
        return { backend: backend.backend, slot: slot.name, state: slot.adminState, status: slot.status, address: null, ...settingValues(null), sessions: slot.sessions, serviceId: null, health: null };
      }
      const endpoint = holder(slot);
      return {
        backend: backend.backend,
        slot: slot.name,
        state: slot.adminState,
        status: slot.status,
        address: describeAddress(slot),
        ...settingValues(slot),
        sessions: slot.sessions,
        serviceId: endpoint?.serviceId ?? null,
        health: endpoint ? endpoint.health : desired === undefined ? null : slot.address !== undefined ? "not in Consul" : null,
        ...(backend.versioning
          ? { version: endpoint?.settings.version ?? null, role: endpoint ? (decisions.get(backend.serviceName)?.members.get(endpoint.serviceId)?.role ?? null) : null }
          : {}),
      };
    });
    const free = own.filter(isFree).length;
    report.backends.push({ backend: backend.backend, used: own.length - free, free, slots: rows, leftOut: leftOut.get(backend.backend) ?? [] });
  }
  const portmap = await readPortmapStatus(context);
  // The spec itself is for `sync`; status shows its entries.
  if (portmap) report.portmap = { folder: portmap.folder, index: portmap.index, entries: portmap.entries, heldListeners: portmap.heldListeners, ...(portmap.problem === undefined ? {} : { problem: portmap.problem }) };
  if (context.config.lb.enabled) report.certificates = readCertificates(context.config.lb.certificateStateDirectory);
  return report;
}

/** The records only: no key is read. A directory the caller may not read (0700, the handler's) says so. */
function readCertificates(directory: string): CertificateRecord[] | { problem: string } {
  try {
    return new CertificateStore(directory).records();
  } catch (error) {
    return { problem: `cannot read ${directory} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): run status as the handler's user or root` };
  }
}

function formatCertificates(certificates: CertificateRecord[] | { problem: string }): string[] {
  if (!Array.isArray(certificates)) return [`WARNING: certificates: ${certificates.problem}`];
  return certificates.map((record) => {
    const served = record.selfSigned ? "self-signed placeholder" : `issued by ${record.issuer}`;
    const error = record.lastError === undefined ? "" : `; last error (${record.failures} in a row): ${record.lastError}`;
    return `certificate ${record.names.join(", ")}: ${served}, not after ${record.notAfter}, next order ${record.nextOrderAt} (${record.nextOrderReason})${error}`;
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n");
}

function formatPortmap(portmap: Omit<PortmapStatus, "spec">): string[] {
  const head = `portmap ${portmap.folder} (KV index ${portmap.index})`;
  if (portmap.problem !== undefined) return [`WARNING: ${head} is not followed: ${portmap.problem}`];
  return [
    `${head}: ${portmap.entries.length} entr${portmap.entries.length === 1 ? "y" : "ies"}`,
    ...portmap.entries.map((entry) => `  ${entry}`),
    ...(portmap.heldListeners > 0 ? [`WARNING: ${describePortmapHold({ ...portmap })}`] : []),
  ];
}

/** Human-readable: one block per backend; empty free slots are summarised, not listed. */
export function formatStatus(report: StatusReport, options: { all?: boolean } = {}): string {
  const lines: string[] = [];
  if (!report.consul.trusted) lines.push(`WARNING: Consul view unavailable, service IDs and health unknown: ${report.consul.problem ?? ""}`, "");
  for (const held of report.massRemovalHeld) {
    lines.push(
      `WARNING: mass removal held in ${held.backend} since ${held.since}: these slots are kept as they are until ${held.releasesAt} (if Consul's answer stays the same) or 'sync --allow-mass-removal': ${held.slots}`,
      "",
    );
  }
  if (report.portmap) lines.push(...formatPortmap(report.portmap), "");
  if (report.certificates !== undefined && (!Array.isArray(report.certificates) || report.certificates.length > 0)) lines.push(...formatCertificates(report.certificates), "");
  for (const service of report.versions) {
    const others = service.generations.filter((generation) => generation.role === "waiting").map((generation) => `${generation.generation} (${generation.healthy}/${generation.instances} healthy)`);
    lines.push(
      `service ${service.service}: serving ${service.serving ?? "-"}${service.promoted ? ` (promoted ${service.promoted})` : ""}` +
        `${service.canary ? `, canary ${service.canary}` : ""}${others.length > 0 ? `, waiting ${others.join(", ")}` : ""}`,
    );
  }
  if (report.versions.length > 0) lines.push("");
  for (const backend of report.backends) {
    lines.push(`backend ${backend.backend}: ${backend.used} used, ${backend.free} free of ${backend.slots.length} slots`);
    const shown = options.all ? backend.slots : backend.slots.filter((slot) => slot.address !== null || slot.state !== "maint");
    if (shown.length > 0) {
      const versioned = shown.some((slot) => slot.version !== undefined);
      const header = ["SLOT", "STATE", "STATUS", "ADDRESS", ...SETTINGS.flatMap((entry) => (entry.status ? [entry.status.header] : [])), "SESS", "SERVICE ID", "HEALTH", ...(versioned ? ["VERSION", "ROLE"] : [])];
      const body = shown.map((slot) => [
        slot.slot,
        slot.state,
        slot.status,
        slot.address ?? "-",
        ...SETTINGS.flatMap((entry) => {
          if (!entry.status) return [];
          const value = slot[entry.status.field];
          return [value === null || value === entry.status.blankWhen ? "-" : String(value)];
        }),
        String(slot.sessions),
        slot.serviceId ?? "-",
        slot.health ?? (report.consul.trusted ? "-" : "?"),
        ...(versioned ? [slot.version ?? "-", slot.role ?? "-"] : []),
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
