// The handler's metric types on top of prom-client. prom-client brings the
// registry, the exposition format and the default process and Node.js
// metrics; the Counter, Gauge and Histogram here keep the small interface the
// handler uses everywhere (`inc(labels?, n?)`, `set(value, labels?)`,
// `replaceAll`, `observe`) and accept labels without declaring them up
// front, so adding a label at a call site never throws at run time. Each one
// is registered with prom-client as a collector (its getForPromString()
// gives prom-client the values to print).
import { Registry as PromRegistry, collectDefaultMetrics } from "prom-client";

/** Every metric of the handler's own is named with this prefix. */
export const METRIC_PREFIX = "consul_haproxy_handler_";
/** The prefix used before 0.2; a name given with it is renamed, so older call sites keep working. */
const OLD_PREFIX = "chh_";

export function metricName(name: string): string {
  if (name.startsWith(OLD_PREFIX)) return `${METRIC_PREFIX}${name.slice(OLD_PREFIX.length)}`;
  return name.startsWith(METRIC_PREFIX) ? name : `${METRIC_PREFIX}${name}`;
}

type Labels = Record<string, string>;

interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** What prom-client's registry reads from a metric (its MetricObjectWithValues). */
interface Collected {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  aggregator: "sum";
  values: Sample[];
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

abstract class Family {
  readonly name: string;

  constructor(
    name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {
    this.name = metricName(name);
  }

  protected abstract samples(): Sample[];

  /** Called by prom-client's registry on every scrape (get() stays the handler's: a value). */
  getForPromString(): Promise<Collected> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: "sum", values: this.samples() });
  }

  /** prom-client calls reset() on registry.resetMetrics(). */
  abstract reset(): void;
}

export class Counter extends Family {
  private values = new Map<string, Sample>();

  /**
   * `known` label sets are shown at 0 before their first increment, so that
   * a rate() or an alert sees every documented series from the start.
   */
  constructor(
    name: string,
    help: string,
    private readonly known: readonly Labels[] = [],
  ) {
    super(name, help, "counter");
    this.reset();
  }

  inc(labels: Labels = {}, amount = 1): void {
    if (!(amount >= 0)) throw new Error(`${this.name}: a counter only goes up (got ${amount})`);
    const key = labelKey(labels);
    const current = this.values.get(key) ?? { labels, value: 0 };
    current.value += amount;
    this.values.set(key, current);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  reset(): void {
    this.values = new Map(this.known.map((labels) => [labelKey(labels), { labels, value: 0 }]));
  }

  protected samples(): Sample[] {
    if (this.values.size === 0) return [{ labels: {}, value: 0 }];
    return [...this.values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

export class Gauge extends Family {
  private values = new Map<string, Sample>();

  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), { labels, value });
  }

  /** Replaces every labelled value at once (e.g. slots per backend after a reconcile). */
  replaceAll(entries: { labels: Labels; value: number }[]): void {
    this.values = new Map(entries.map((entry) => [labelKey(entry.labels), { labels: entry.labels, value: entry.value }]));
  }

  get(labels: Labels = {}): number | undefined {
    return this.values.get(labelKey(labels))?.value;
  }

  reset(): void {
    this.values = new Map();
  }

  protected samples(): Sample[] {
    return [...this.values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

export class Histogram extends Family {
  private counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    name: string,
    help: string,
    private readonly buckets: readonly number[],
  ) {
    super(name, help, "histogram");
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    this.buckets.forEach((bound, index) => {
      if (value <= bound) this.counts[index] = (this.counts[index] ?? 0) + 1;
    });
  }

  get observations(): number {
    return this.count;
  }

  reset(): void {
    this.counts = this.buckets.map(() => 0);
    this.sum = 0;
    this.count = 0;
  }

  protected samples(): Sample[] {
    return [
      ...this.buckets.map((bound, index) => ({ metricName: `${this.name}_bucket`, labels: { le: String(bound) }, value: this.counts[index] ?? 0 })),
      { metricName: `${this.name}_bucket`, labels: { le: "+Inf" }, value: this.count },
      { metricName: `${this.name}_sum`, labels: {}, value: this.sum },
      { metricName: `${this.name}_count`, labels: {}, value: this.count },
    ];
  }
}

/**
 * One prom-client registry: the handler's metrics plus prom-client's default
 * process_* and nodejs_* metrics (resident memory, CPU, heap, event-loop lag,
 * open file descriptors, GC), under their standard names so that existing
 * dashboards and alerts apply.
 */
export class Registry {
  readonly prometheus = new PromRegistry();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.prometheus });
  }

  register<T extends Family>(metric: T): T {
    this.prometheus.registerMetric(metric as unknown as Parameters<PromRegistry["registerMetric"]>[0]);
    return metric;
  }

  /** The text exposition format (what GET /metrics serves). */
  render(): Promise<string> {
    return this.prometheus.metrics();
  }

  get contentType(): string {
    return this.prometheus.contentType;
  }
}
