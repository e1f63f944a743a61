// What the soak checks, as pure functions of what it read: Consul's health
// answer (from a server, not through the fault proxy), HAProxy's `show
// servers state` and `show stat`, and the handler's memory and descriptors
// over time. soak.ts reads; these decide.
import type { ServerStateRow, StatRow } from "../../handler/haproxy-runtime-api/index.js";

/** The soak's service layout: one Consul service, a default and a PoW backend (the playbook's shape). */
export interface Layout {
  defaultBackend: string;
  powBackend: string;
  slotPrefix: string;
  defaults: { weight: number; maxconn: number };
  powDefaults: { weight: number; maxconn: number };
}

/** One entry of `/v1/health/service/<name>`, the fields read here. */
export interface HealthEntry {
  Service: { ID: string; Address: string; Port: number; Meta?: Record<string, string> | null };
  Node: { Address: string };
  Checks: { Status: string }[];
}

/** `backend address weight maxconn` of every node that should be in rotation, sorted. */
export function expectedInRotation(entries: readonly HealthEntry[], layout: Layout): string[] {
  const lines: string[] = [];
  for (const entry of entries) {
    // warningAs: ready (the default): only a critical check (maintenance is one) takes a node out.
    if (entry.Checks.some((check) => check.Status === "critical")) continue;
    const meta = entry.Service.Meta ?? {};
    const address = `${entry.Service.Address || entry.Node.Address}:${entry.Service.Port}`;
    const pow = meta["haproxy_pow"] ?? "false";
    const weight = meta["haproxy_weight"];
    if (pow !== "only") {
      lines.push(line(layout.defaultBackend, address, Number(weight ?? layout.defaults.weight), Number(meta["haproxy_maxconn"] ?? layout.defaults.maxconn)));
    }
    if (pow === "true" || pow === "only") {
      lines.push(line(layout.powBackend, address, Number(weight ?? layout.powDefaults.weight), Number(meta["haproxy_pow_maxconn"] ?? layout.powDefaults.maxconn)));
    }
  }
  return lines.sort();
}

/**
 * srv_admin_state bits that take a server out of rotation: maintenance
 * forced, inherited or from resolution (0x01, 0x02, 0x20) and drain (0x08,
 * 0x10). 0x04 only records that the configuration said `disabled`; it stays
 * set once the server is enabled at run time.
 */
const NOT_IN_ROTATION = 0x01 | 0x02 | 0x20 | 0x08 | 0x10;

/** The same lines for HAProxy's slots in rotation (admin state ready: not in maintenance, not draining). */
export function actualInRotation(states: readonly ServerStateRow[], stats: readonly StatRow[], layout: Layout): string[] {
  const statOf = new Map(stats.map((row) => [`${row.pxname}/${row.svname}`, row]));
  const lines: string[] = [];
  for (const state of states) {
    if (state.backendName !== layout.defaultBackend && state.backendName !== layout.powBackend) continue;
    if (!state.serverName.startsWith(layout.slotPrefix) || (state.adminState & NOT_IN_ROTATION) !== 0) continue;
    const maxconn = Number(statOf.get(`${state.backendName}/${state.serverName}`)?.["slim"] || 0);
    lines.push(line(state.backendName, `${state.address}:${state.port}`, state.userWeight, maxconn));
  }
  return lines.sort();
}

function line(backend: string, address: string, weight: number, maxconn: number): string {
  return `${backend} ${address} weight=${weight} maxconn=${maxconn}`;
}

/** What differs, as `+ line` (HAProxy has it, Consul does not) and `- line` (Consul has it, HAProxy does not). */
export function difference(expected: readonly string[], actual: readonly string[]): string[] {
  const remaining = new Map<string, number>();
  for (const each of expected) remaining.set(each, (remaining.get(each) ?? 0) + 1);
  const extra: string[] = [];
  for (const each of actual) {
    const left = remaining.get(each) ?? 0;
    if (left > 0) remaining.set(each, left - 1);
    else extra.push(`+ ${each}`);
  }
  const missing = [...remaining].flatMap(([each, count]) => Array.from({ length: count }, () => `- ${each}`));
  return [...missing, ...extra].sort();
}

/** Backends among these with no server UP (`show stat` status UP, "UP 1/3" included). */
export function backendsWithoutUpServer(stats: readonly StatRow[], backends: readonly string[], slotPrefix: string): string[] {
  return backends.filter((backend) => !stats.some((row) => row.pxname === backend && row.svname.startsWith(slotPrefix) && (row["status"] ?? "").startsWith("UP")));
}

/**
 * A sample of the handler process: when, resident memory (kB) in all and its
 * private part, open descriptors, and the V8 heap in use (from its /metrics;
 * undefined when that did not answer in time).
 */
export interface ProcessSample {
  at: number;
  rssKb: number;
  /**
   * RssAnon: the process's own memory (V8's heap, native allocations). The
   * rest of RSS is file pages, mostly the node binary's code (99 MB), paged
   * in as code paths first run and shared with every other node process
   * (34 MB in a fresh node process, 44 MB in a handler 6.5 minutes into a soak).
   */
  privateKb: number;
  descriptors: number;
  heapUsedBytes: number | undefined;
}

export interface GrowthVerdict {
  /** Enough samples over enough time to say anything. */
  judged: boolean;
  /** Growth of RSS in all, file pages included: reported, not judged. */
  rssGrowth: number;
  /** Growth of the private part of RSS: where a native or heap leak shows. */
  privateGrowth: number;
  /** Growth of the heap's low-water mark: what survives garbage collection, where a leak of JavaScript objects shows. */
  retainedHeapGrowth: number;
  descriptorGrowth: number;
  /** Why it counts as growth, when it does. */
  growing: string | undefined;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)] ?? 0);
}

/**
 * Growth over one process's life: the median of its last quarter against the
 * median of its first quarter, after a warm-up (the JIT and the first fill
 * grow a new process's memory). Judged only on lives of at least minSpanMs:
 * on a shorter one, garbage collection swings memory more than a leak would.
 */
export function growth(samples: readonly ProcessSample[], options: { warmUpMs: number; minSpanMs: number; maxPrivateGrowth: number; maxRetainedHeapGrowth: number; maxDescriptorGrowth: number }): GrowthVerdict {
  const first = samples[0];
  const settled = first ? samples.filter((sample) => sample.at - first.at >= options.warmUpMs) : [];
  const span = settled.length > 1 ? (settled[settled.length - 1]?.at ?? 0) - (settled[0]?.at ?? 0) : 0;
  if (span < options.minSpanMs || settled.length < 8) return { judged: false, rssGrowth: 0, privateGrowth: 0, retainedHeapGrowth: 0, descriptorGrowth: 0, growing: undefined };
  const quarter = Math.max(1, Math.floor(settled.length / 4));
  const early = settled.slice(0, quarter);
  const late = settled.slice(-quarter);
  const rise = (figure: (sample: ProcessSample) => number): number => median(late.map(figure)) / Math.max(1, median(early.map(figure))) - 1;
  const rssGrowth = rise((sample) => sample.rssKb);
  const privateGrowth = rise((sample) => sample.privateKb);
  const earlyHeap = lowWater(early);
  const lateHeap = lowWater(late);
  const retainedHeapGrowth = earlyHeap === undefined || lateHeap === undefined ? 0 : lateHeap / Math.max(1, earlyHeap) - 1;
  const descriptorGrowth = median(late.map((sample) => sample.descriptors)) - median(early.map((sample) => sample.descriptors));
  const reasons: string[] = [];
  if (privateGrowth > options.maxPrivateGrowth) reasons.push(`private resident memory grew ${(privateGrowth * 100).toFixed(1)} % (limit ${(options.maxPrivateGrowth * 100).toFixed(0)} %)`);
  if (retainedHeapGrowth > options.maxRetainedHeapGrowth) reasons.push(`the heap that survives garbage collection grew ${(retainedHeapGrowth * 100).toFixed(1)} % (limit ${(options.maxRetainedHeapGrowth * 100).toFixed(0)} %)`);
  if (descriptorGrowth > options.maxDescriptorGrowth) reasons.push(`open descriptors grew by ${descriptorGrowth} (limit ${options.maxDescriptorGrowth})`);
  return { judged: true, rssGrowth, privateGrowth, retainedHeapGrowth, descriptorGrowth, growing: reasons.length > 0 ? reasons.join("; ") : undefined };
}

/** The lowest heap in use among the samples: close to what the last full collection kept. */
function lowWater(samples: readonly ProcessSample[]): number | undefined {
  const heaps = samples.map((sample) => sample.heapUsedBytes).filter((bytes): bytes is number => bytes !== undefined);
  return heaps.length === 0 ? undefined : Math.min(...heaps);
}

/** One figure per minute of a life (the median of that minute's samples), for the report. */
export function byMinute(samples: readonly ProcessSample[], figure: (sample: ProcessSample) => number | undefined): number[] {
  const first = samples[0];
  if (!first) return [];
  const minutes: number[][] = [];
  for (const sample of samples) {
    const value = figure(sample);
    if (value === undefined) continue;
    (minutes[Math.floor((sample.at - first.at) / 60_000)] ??= []).push(value);
  }
  return minutes.map((values) => median(values));
}
