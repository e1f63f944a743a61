// A minimal Prometheus registry: counters, gauges and histograms with labels,
// rendered in the text exposition format (version 0.0.4). Small enough to
// own, and it keeps a dependency off the admin host.

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const escaped = entries.map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return `{${escaped.join(",")}}`;
}

function formatNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}

interface Metric {
  render(): string[];
}

abstract class Family implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}

  protected header(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
  }

  abstract render(): string[];
}

export class Counter extends Family {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string) {
    super(name, help, "counter");
  }

  inc(labels: Labels = {}, amount = 1): void {
    const key = labelText(labels);
    const current = this.values.get(key) ?? { labels, value: 0 };
    current.value += amount;
    this.values.set(key, current);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = this.header();
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${formatNumber(value)}`);
    return lines;
  }
}

export class Gauge extends Family {
  private values = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelText(labels), { labels, value });
  }

  /** Replaces every labelled value at once (e.g. slots per backend after a reconcile). */
  replaceAll(entries: { labels: Labels; value: number }[]): void {
    this.values = new Map(entries.map((entry) => [labelText(entry.labels), entry]));
  }

  get(labels: Labels = {}): number | undefined {
    return this.values.get(labelText(labels))?.value;
  }

  render(): string[] {
    const lines = this.header();
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${formatNumber(value)}`);
    return lines;
  }
}

export class Histogram extends Family {
  private readonly counts: number[];
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

  render(): string[] {
    const lines = this.header();
    this.buckets.forEach((bound, index) => lines.push(`${this.name}_bucket{le="${formatNumber(bound)}"} ${this.counts[index] ?? 0}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${formatNumber(this.sum)}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  register<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    return `${this.metrics.flatMap((metric) => metric.render()).join("\n")}\n`;
  }
}
