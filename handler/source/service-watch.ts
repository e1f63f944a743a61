// The watch of one Consul service: a blocking-query loop that keeps the
// service's newest trusted answer as validated endpoints. Fail static: an
// answer that cannot be trusted keeps the previous endpoints and marks the
// watch as in doubt (`problem`), and the loop retries with backoff and
// jitter. The clock is injectable, so the loop is tested without waiting.
import type { Logger } from "../log.js";
import { ConsulUntrusted, type ReadOptions, type ServiceSnapshot } from "./consul-source.js";
import { selectionKey, type ServiceSelection } from "../planner/selection.js";
import { endpointsFromSnapshots, type DesiredState } from "./desired.js";

/**
 * The longest pause between two reads of a Consul that fails. A read is one
 * cheap request to the local agent, so retrying every second costs nothing,
 * and `run` converges within about 2 s of Consul answering again.
 */
export const CONSUL_RETRY_CAP_MS = 1_000;

/** How long a blocking read waits after an empty answer (see ServiceWatch.run). */
export const EMPTY_RECHECK_SECONDS = 1;

/** Exponential backoff with jitter: 100 ms doubling up to `capMs` (half to all of it). */
export function backoffDelay(failures: number, random: () => number = Math.random, capMs: number = CONSUL_RETRY_CAP_MS): number {
  const ceiling = Math.min(capMs, 100 * 2 ** Math.min(failures, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Consul's index rules: never go below 1; an index that went backwards starts over. */
export function nextIndex(previous: number, received: number): number {
  if (!Number.isFinite(received) || received < 1) return 0;
  if (received < previous) return 0;
  return received;
}

/** Time as the watch sees it: injected in tests. */
export interface WatchClock {
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  random(): number;
  /** A monotonic time in ns, for the change-to-applied latency. */
  now(): bigint;
}

export const systemClock: WatchClock = {
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    }),
  random: Math.random,
  now: () => process.hrtime.bigint(),
};

/** What the watch needs of Consul (ConsulSource). */
export interface ServiceReader {
  readService(selection: ServiceSelection, options: ReadOptions): Promise<ServiceSnapshot>;
  /** Consul 1.8 filters by ACL silently: an empty answer must be confirmed (throws ConsulUntrusted). */
  confirmEmptyAnswer(): Promise<void>;
}

export interface WatchListener {
  /** A trusted answer that differs from the last one (or ends a doubt): reconcile this service. */
  changed(key: string): void;
  /** An answer that is not trusted; `cause` is the failures_total label (consul-<reason>). */
  failed(key: string, cause: string): void;
}

export class ServiceWatch {
  readonly key: string;
  /**
   * The validated instances from the newest trusted answer. Kept instead of
   * the raw answer: validated once per change, and a fraction of the memory
   * with thousands of instances.
   */
  desired: DesiredState | undefined;
  /** Why the last answer was not trusted; undefined once trusted. */
  problem: string | undefined;
  /** When the newest change not yet applied was seen (WatchClock.now). */
  changedAt: bigint | undefined;

  constructor(
    private readonly selection: ServiceSelection,
    private readonly reader: ServiceReader,
    private readonly logger: Logger,
    private readonly waitSeconds: number,
    private readonly listener: WatchListener,
    private readonly clock: WatchClock = systemClock,
  ) {
    this.key = selectionKey(selection);
  }

  /** The blocking-query loop, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let index = 0;
    let failures = 0;
    // After an empty answer, the next read waits EMPTY_RECHECK_SECONDS at most: an empty answer is
    // the one fail static distrusts (a proxy or a token can empty a service at once, and the
    // mass-removal guard holds it), and blocking on its index would keep the handler on it until
    // Consul's next change to the service, however soon the real answer is back.
    let lastWasEmpty = false;
    while (!signal.aborted) {
      try {
        const waitSeconds = lastWasEmpty ? Math.min(this.waitSeconds, EMPTY_RECHECK_SECONDS) : this.waitSeconds;
        const snapshot = await this.reader.readService(this.selection, index > 0 ? { index, waitSeconds, signal } : { signal });
        if (signal.aborted) return;
        lastWasEmpty = snapshot.entries.length === 0;
        if (lastWasEmpty) await this.reader.confirmEmptyAnswer();
        const changed = this.desired === undefined || snapshot.index !== index || this.problem !== undefined;
        index = nextIndex(index, snapshot.index);
        failures = 0;
        if (changed) this.desired = endpointsFromSnapshots([snapshot], this.logger);
        if (this.problem !== undefined) this.logger.info("Consul answers again", { service: this.key });
        this.problem = undefined;
        if (changed) {
          this.changedAt = this.clock.now();
          this.listener.changed(this.key);
        }
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        index = 0;
        const reason = error instanceof ConsulUntrusted ? error.reason : "error";
        const message = (error as Error).message;
        if (this.problem !== message) this.logger.error("Consul's answer is not trusted; HAProxy left as it is", { service: this.key, reason, detail: message });
        this.problem = message;
        this.listener.failed(this.key, `consul-${reason}`);
        await this.clock.sleep(backoffDelay(failures, this.clock.random), signal);
      }
    }
  }

  /** A fresh non-blocking answer (the periodic resync); ignored while the watch is in doubt. */
  refresh(snapshot: ServiceSnapshot): void {
    if (this.problem === undefined) this.desired = endpointsFromSnapshots([snapshot], this.logger);
  }

  /** The pending change's time, cleared: it is being applied now. */
  takeChangedAt(): bigint | undefined {
    const at = this.changedAt;
    this.changedAt = undefined;
    return at;
  }
}
