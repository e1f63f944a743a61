// The `run` trigger: a long-running controller.
//
// - One blocking query per configured service keeps a fresh snapshot; a
//   change (a new X-Consul-Index) triggers a reconcile within milliseconds.
// - Triggers are coalesced: at most one reconcile runs and at most one waits,
//   so a burst of 1,000 registrations costs a handful of reconciles and no
//   trigger is ever lost (the waiting one starts after the running one and
//   uses the newest snapshots).
// - Fail static: while any service's last answer is untrusted, nothing is
//   applied; the blocking query retries with backoff and jitter.
// - HAProxy's `show info` is polled: a new Pid or a smaller uptime means a
//   reload or restart, and everything is re-applied (maxconn included, which
//   HAProxy's state file does not keep).
// - A periodic full resync re-reads Consul and repairs any drift.
import PQueue from "p-queue";
import { loadConfig, type HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { ConsulUntrusted, selectionKey, type ServiceSelection } from "../source/consul-source.js";
import { createContext, endpointsFromSnapshots, reconcileWith, type DesiredState, type HandlerContext, type ReconcileOutcome } from "../reconcile/reconcile.js";
import { LockTimeout, withLock } from "./lock.js";
import { HandlerMetrics } from "../metrics/handler-metrics.js";
import { recordVersionMetrics } from "../metrics/version-metrics.js";
import { startHttpListener, type HttpListener } from "./http-listener.js";
import { describeHold, type HeldRemoval } from "../reconcile/mass-removal.js";

const HAPROXY_POLL_MS = 1000;
const DRAIN_RECHECK_MS = 1000;
/** While a mass removal is held, reconcile this often: the hold may be over or lifted by `sync --allow-mass-removal`. */
const HOLD_RECHECK_MS = 5000;

/**
 * The longest pause between two reads of a Consul that fails. A read is one
 * cheap request to the local agent, so retrying every second costs nothing,
 * and `run` converges within about 2 s of Consul answering again.
 */
export const CONSUL_RETRY_CAP_MS = 1_000;

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

/**
 * Coalesces triggers: while one job runs, any number of triggers queue
 * exactly one more run. Built on p-queue with concurrency 1.
 */
export class CoalescingRunner {
  private readonly queue = new PQueue({ concurrency: 1 });
  private pending = false;

  constructor(private readonly job: () => Promise<void>) {}

  trigger(): void {
    if (this.pending) return;
    this.pending = true;
    void this.queue.add(async () => {
      // Cleared before the job starts, so a trigger during the job queues one more.
      this.pending = false;
      await this.job();
    });
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }

  pause(): void {
    this.queue.pause();
  }

  resume(): void {
    this.queue.start();
  }

  clearWaiting(): void {
    this.queue.clear();
    this.pending = false;
  }
}

interface ServiceWatch {
  /**
   * The service's validated instances from its newest trusted answer. Kept
   * instead of the raw answer: validated once per change, and a fraction of
   * the memory with thousands of instances.
   */
  desired?: DesiredState;
  /** Why the last answer was not trusted; undefined once trusted. */
  problem?: string;
  /** When the newest change was seen, for the change-to-applied latency. */
  changedAt?: bigint;
}

export interface ControllerStatus {
  healthy: boolean;
  reason: string;
}

export class Controller {
  private context: HandlerContext;
  private watches = new Map<string, ServiceWatch>();
  private abort = new AbortController();
  private readonly runner: CoalescingRunner;
  readonly metrics = new HandlerMetrics();
  private stopping = false;
  private haproxyIdentity: { pid: number; uptimeSeconds: number } | undefined;
  private timers: NodeJS.Timeout[] = [];
  private drainTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private held: HeldRemoval[] = [];
  private listener: HttpListener | undefined;
  private lastOutcome: { ok: boolean; at: number; reason: string } = { ok: false, at: 0, reason: "no reconcile yet" };

  constructor(
    private readonly configFile: string,
    private config: HandlerConfig,
    private readonly logger: Logger,
  ) {
    this.context = createContext(config, logger);
    this.runner = new CoalescingRunner(() => this.reconcileNow());
  }

  async start(): Promise<void> {
    this.logger.info("starting", { services: this.config.services.map((service) => service.name), haproxy: this.config.haproxy.socket });
    if (this.config.run.listen) {
      this.listener = await startHttpListener(this.config.run.listen, {
        metrics: () => this.metrics.registry.render(),
        health: () => this.health(),
        trigger: () => {
          this.metrics.watchRequests.inc();
          this.runner.trigger();
        },
      });
      this.logger.info("listening", { address: this.listener.address });
    }
    this.startLoops();
  }

  private startLoops(): void {
    this.abort = new AbortController();
    this.watches = new Map(this.config.services.map((service) => [selectionKey(service), {}]));
    for (const service of this.config.services) void this.watchService(service, this.abort.signal);
    this.timers.push(setInterval(() => void this.resync(), this.config.run.resyncSeconds * 1000));
    this.timers.push(setInterval(() => void this.pollHaproxy(), HAPROXY_POLL_MS));
    void this.pollHaproxy();
  }

  private stopLoops(): void {
    this.abort.abort();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /** The blocking-query loop of one service. */
  private async watchService(selection: ServiceSelection, signal: AbortSignal): Promise<void> {
    const service = selectionKey(selection);
    let index = 0;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const snapshot = await this.context.consul.readService(selection, index > 0 ? { index, waitSeconds: this.config.consul.blockingWaitSeconds, signal } : { signal });
        if (signal.aborted) return;
        // Consul 1.8 filters by ACL silently: an empty answer must be confirmed.
        if (snapshot.entries.length === 0) await this.context.consul.confirmEmptyAnswer();
        const watch = this.watches.get(service);
        if (!watch) return;
        const changed = watch.desired === undefined || snapshot.index !== index || watch.problem !== undefined;
        index = nextIndex(index, snapshot.index);
        failures = 0;
        if (changed) watch.desired = endpointsFromSnapshots([snapshot], this.logger);
        if (watch.problem !== undefined) this.logger.info("Consul answers again", { service });
        watch.problem = undefined;
        if (changed) {
          watch.changedAt = process.hrtime.bigint();
          this.runner.trigger();
        }
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        index = 0;
        const reason = error instanceof ConsulUntrusted ? error.reason : "error";
        const message = (error as Error).message;
        const watch = this.watches.get(service);
        if (watch && watch.problem !== message) {
          this.logger.error("Consul's answer is not trusted; HAProxy left as it is", { service, reason, detail: message });
        }
        if (watch) watch.problem = message;
        this.metrics.failures.inc({ cause: `consul-${reason}` });
        this.metrics.consulTrusted.set(0);
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(failures)));
      }
    }
  }

  /** One reconcile from the newest snapshots, under the inter-process lock. */
  private async reconcileNow(): Promise<void> {
    if (this.stopping) return;
    const watches = [...this.watches.values()];
    const problem = watches.find((watch) => watch.problem !== undefined)?.problem;
    const perService = watches.map((watch) => watch.desired);
    if (problem !== undefined || perService.some((desired) => desired === undefined)) {
      this.metrics.reconciles.inc({ result: "skipped" });
      this.metrics.consulTrusted.set(0);
      this.lastOutcome = { ok: false, at: Date.now(), reason: problem ?? "waiting for the first Consul answer" };
      return;
    }
    this.metrics.consulTrusted.set(1);
    const changedAt = watches.reduce<bigint | undefined>((earliest, watch) => (watch.changedAt !== undefined && (earliest === undefined || watch.changedAt < earliest) ? watch.changedAt : earliest), undefined);
    for (const watch of watches) watch.changedAt = undefined;
    const started = process.hrtime.bigint();
    try {
      const known = perService as DesiredState[];
      const desired: DesiredState = { endpoints: known.flatMap((state) => state.endpoints), rejected: known.flatMap((state) => state.rejected) };
      const outcome = await withLock(this.config.lockFile, () => reconcileWith(this.context, desired));
      this.record(outcome, started, changedAt);
    } catch (error) {
      this.metrics.reconciles.inc({ result: "failed" });
      // The promoted versions are read from Consul KV inside the reconcile.
      this.metrics.failures.inc({ cause: error instanceof LockTimeout ? "lock" : error instanceof ConsulUntrusted ? `consul-${error.reason}` : "haproxy" });
      this.lastOutcome = { ok: false, at: Date.now(), reason: (error as Error).message };
      this.logger.error("reconcile failed; will retry", { detail: (error as Error).message });
      // HAProxy may be restarting: the Pid poll triggers again when it is back,
      // and a retry covers a passing fault.
      this.scheduleRetry();
    }
  }

  private record(outcome: ReconcileOutcome, started: bigint, changedAt: bigint | undefined): void {
    const finished = process.hrtime.bigint();
    this.metrics.reconcileSeconds.observe(Number(finished - started) / 1e9);
    if (changedAt !== undefined) this.metrics.changeToApplied.observe(Number(finished - changedAt) / 1e9);
    const failures = outcome.report?.failures.length ?? 0;
    const ok = failures === 0;
    this.metrics.reconciles.inc({ result: ok ? "ok" : "failed" });
    if (failures > 0) this.metrics.failures.inc({ cause: "command" }, failures);
    if (outcome.plan.leftOut.length > 0) this.metrics.failures.inc({ cause: "left-out" });
    this.metrics.leftOut.set(outcome.plan.leftOut.length);
    this.metrics.rejected.set(outcome.rejected.length);
    if (ok) this.metrics.lastSuccess.set(Math.floor(Date.now() / 1000));
    this.lastOutcome = { ok, at: Date.now(), reason: ok ? "ok" : `${failures} command(s) refused by HAProxy` };
    this.updateSlotGauges(outcome);
    this.recordHolds(outcome);
    recordVersionMetrics(this.metrics, outcome.plan);
    if (outcome.plan.draining > 0) this.scheduleDrainCheck();
    if (!ok) this.scheduleRetry();
  }

  private updateSlotGauges(outcome: ReconcileOutcome): void {
    const byBackend = new Map<string, { used: number; free: number }>();
    for (const usage of outcome.plan.usage) {
      const total = byBackend.get(usage.backend) ?? { used: 0, free: 0 };
      total.used += usage.used;
      total.free += usage.free;
      byBackend.set(usage.backend, total);
    }
    this.metrics.slots.replaceAll(
      [...byBackend].flatMap(([backend, { used, free }]) => [
        { labels: { backend, use: "used" }, value: used },
        { labels: { backend, use: "free" }, value: free },
      ]),
    );
  }

  private recordHolds(outcome: ReconcileOutcome): void {
    this.held = outcome.held;
    if (outcome.held.length > 0) this.metrics.failures.inc({ cause: "mass-removal-held" });
    this.metrics.massRemovalHeld.replaceAll(this.context.policy.backends.map((backend) => ({
      labels: { backend: backend.backend },
      value: outcome.held.filter((hold) => hold.backend === backend.backend).reduce((total, hold) => total + hold.leaving, 0),
    })));
    if (outcome.held.length === 0 || this.holdTimer || this.stopping) return;
    const nextRelease = Math.min(...outcome.held.map((hold) => hold.releasesAt));
    this.holdTimer = setTimeout(
      () => {
        this.holdTimer = undefined;
        this.runner.trigger();
      },
      Math.max(50, Math.min(HOLD_RECHECK_MS, nextRelease - Date.now() + 50)),
    );
  }

  /** Drained slots are freed by a later reconcile: check back while any drain. */
  private scheduleDrainCheck(): void {
    if (this.drainTimer || this.stopping) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.runner.trigger();
    }, Math.min(DRAIN_RECHECK_MS, Math.max(1, this.config.policy.drainSeconds) * 1000));
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((candidate) => candidate !== timer);
      this.runner.trigger();
    }, 1000);
    this.timers.push(timer);
  }

  /** Full resync: fresh (non-blocking) reads of every service, then a reconcile. */
  private async resync(): Promise<void> {
    try {
      const snapshots = await this.context.consul.readServices(this.config.services);
      for (const snapshot of snapshots) {
        const watch = this.watches.get(snapshot.key);
        if (watch && watch.problem === undefined) watch.desired = endpointsFromSnapshots([snapshot], this.logger);
      }
    } catch (error) {
      this.logger.warn("resync: Consul not trusted, keeping HAProxy as it is", { detail: (error as Error).message });
      return;
    }
    this.runner.trigger();
  }

  /** A new Pid or a smaller uptime: HAProxy was reloaded or restarted. */
  private async pollHaproxy(): Promise<void> {
    try {
      const info = await this.context.haproxy.showInfo();
      const previous = this.haproxyIdentity;
      this.haproxyIdentity = { pid: info.pid, uptimeSeconds: info.uptimeSeconds };
      if (previous && (previous.pid !== info.pid || info.uptimeSeconds < previous.uptimeSeconds)) {
        this.logger.warn("HAProxy was reloaded or restarted; re-applying every slot", { pid: info.pid, previousPid: previous.pid });
        this.metrics.haproxyRestarts.inc();
        this.runner.trigger();
      }
    } catch {
      // HAProxy down: when it is back, its new Pid triggers the re-apply.
      if (this.haproxyIdentity) this.logger.warn("HAProxy's admin socket does not answer", { socket: this.config.haproxy.socket });
      this.haproxyIdentity = this.haproxyIdentity ? { pid: -1, uptimeSeconds: 0 } : undefined;
    }
  }

  health(): ControllerStatus {
    const problem = [...this.watches.values()].find((watch) => watch.problem !== undefined)?.problem;
    if (problem !== undefined) return { healthy: false, reason: `Consul not trusted: ${problem}` };
    if (!this.lastOutcome.ok) return { healthy: false, reason: this.lastOutcome.reason };
    if (this.held.length > 0) return { healthy: false, reason: this.held.map((hold) => describeHold(hold)).join("; ") };
    return { healthy: true, reason: "ok" };
  }

  /** SIGHUP: load the config again; a bad file keeps the running one. */
  async reload(): Promise<void> {
    let config: HandlerConfig;
    let context: HandlerContext;
    try {
      config = loadConfig(this.configFile);
      // Built before anything stops: unusable CONSUL_* variables or TLS files keep the running config too.
      context = createContext(config, this.logger);
    } catch (error) {
      this.logger.error("config reload failed; keeping the running config", { detail: (error as Error).message });
      this.metrics.configReloads.inc({ result: "failed" });
      return;
    }
    this.logger.info("reloading the config", { file: this.configFile });
    this.stopLoops();
    this.runner.pause();
    await this.runner.idle().catch(() => undefined);
    this.runner.clearWaiting();
    this.context.consul.close();
    this.context.promotions.close();
    this.config = config;
    this.context = context;
    this.haproxyIdentity = undefined;
    this.runner.resume();
    this.startLoops();
    this.metrics.configReloads.inc({ result: "ok" });
  }

  /** SIGTERM: no new work, finish the batch in flight, close everything. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopLoops();
    this.runner.clearWaiting();
    await this.runner.idle();
    await this.listener?.close();
    this.context.consul.close();
    this.context.promotions.close();
    this.logger.info("stopped");
  }
}
