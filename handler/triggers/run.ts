// The `run` trigger: a long-running controller. It only wires the parts:
//
// - one ServiceWatch per configured service (source/service-watch.ts): a
//   blocking query that turns each change into validated endpoints, fail
//   static while an answer is in doubt;
// - a CoalescingRunner: at most one reconcile runs and at most one waits, so
//   a burst of changes costs a handful of reconciles and none is lost;
// - a RestartDetector fed by polling `show info`: a reloaded or restarted
//   HAProxy gets everything applied again (maxconn included, which HAProxy's
//   state file does not keep);
// - an OutcomeRecorder for /metrics and /healthz;
// - a SlotCache (haproxy-state/cache.ts): HAProxy's slots kept in memory and
//   updated from the replies of the commands sent, read in full at start,
//   after a restart, a refused command or a socket error, on resync and on
//   POST /watch;
// - a MembershipGate: Consul's answers are acted on only while the local
//   agent is a live member of its cluster, and only those read after it was
//   last seen joining (an agent that restarts answers before it rejoins);
// - a periodic full resync that re-reads Consul and HAProxy and repairs any
//   drift (a manual `set server` over the admin socket, say).
//
// A change to one service plans and applies only that service's backends;
// a resync, a restart, a retry or a recheck covers them all.
//
// Each reconcile's outcome says when the next one is due (draining slots, a
// retry, a held mass removal): one timer, set to the earliest.
import { loadConfig, type HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { ServiceSelection } from "../source/consul-source.js";
import { mergeDesired, type DesiredState } from "../source/desired.js";
import { ServiceWatch } from "../source/service-watch.js";
import { createContext, reconcileWith, type HandlerContext } from "../reconcile/reconcile.js";
import { RETRY_AFTER_ERROR_MS } from "../reconcile/run-again.js";
import { RestartDetector } from "../haproxy-state/restart-detector.js";
import { SlotCache } from "../haproxy-state/cache.js";
import { HandlerMetrics } from "../metrics/handler-metrics.js";
import { OutcomeRecorder, type Health } from "../metrics/outcome-recorder.js";
import { CoalescingRunner } from "./coalescing-runner.js";
import { withLock } from "./lock.js";
import { startHttpListener, type HttpListener } from "./http-listener.js";
import { MembershipGate, MEMBERSHIP_RECHECK_MS } from "./membership-gate.js";
import { ConsulUntrusted } from "../source/consul-source.js";

/**
 * How often `show info` asks HAProxy who it is. A restarted HAProxy starts
 * with empty template slots, and the poll is what notices it: every slot is
 * back about this long plus one full apply after the new process answers.
 * One `show info` costs well under a millisecond of CPU on either side.
 */
const HAPROXY_POLL_MS = 200;

export type ControllerStatus = Health;

export class Controller {
  private context: HandlerContext;
  private watches = new Map<string, ServiceWatch>();
  private abort = new AbortController();
  private readonly runner: CoalescingRunner;
  readonly metrics = new HandlerMetrics();
  private readonly recorder: OutcomeRecorder;
  private readonly restarts = new RestartDetector();
  private cache: SlotCache;
  /** Services (selection keys) changed since the last reconcile; `all`: every backend is due. */
  private dirty: Set<string> | "all" = "all";
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  /** The next reconcile an outcome asked for, and when it is due. */
  private due: { timer: NodeJS.Timeout; at: number } | undefined;
  private listener: HttpListener | undefined;
  private readonly gate: MembershipGate;

  constructor(
    private readonly configFile: string,
    private config: HandlerConfig,
    private readonly logger: Logger,
  ) {
    this.context = createContext(config, logger);
    this.cache = new SlotCache(this.context.policy);
    this.recorder = new OutcomeRecorder(this.metrics, this.context.policy.backends.map((backend) => backend.backend));
    this.runner = new CoalescingRunner(() => this.reconcileNow());
    this.gate = new MembershipGate((depth) => this.context.consul.checkMembership(depth), logger);
  }

  async start(): Promise<void> {
    this.logger.info("starting", { services: this.config.services.map((service) => service.name), haproxy: this.config.haproxy.socket });
    if (this.config.run.listen) {
      this.listener = await startHttpListener(this.config.run.listen, {
        metrics: () => this.metrics.registry.render(),
        health: () => this.health(),
        trigger: () => {
          this.metrics.watchRequests.inc();
          // An explicit request: a full reconcile from a fresh read, as `sync` would do.
          this.reconcileAll("POST /watch");
        },
      });
      this.logger.info("listening", { address: this.listener.address });
    }
    this.startLoops();
  }

  private watchOf(selection: ServiceSelection): ServiceWatch {
    return new ServiceWatch(selection, this.context.consul, this.logger, this.config.consul.blockingWaitSeconds, {
      changed: (key) => this.reconcileService(key),
      failed: (_key, cause) => {
        this.metrics.failures.inc({ cause });
        this.recorder.consulTrusted(false);
        this.gate.doubt();
      },
    });
  }

  private startLoops(): void {
    this.abort = new AbortController();
    this.watches = new Map(this.config.services.map((selection) => this.watchOf(selection)).map((watch) => [watch.key, watch]));
    for (const watch of this.watches.values()) void watch.run(this.abort.signal);
    this.timers.push(setInterval(() => void this.resync(), this.config.run.resyncSeconds * 1000));
    this.timers.push(setInterval(() => void this.pollHaproxy(), HAPROXY_POLL_MS));
    void this.pollHaproxy();
  }

  private stopLoops(): void {
    this.abort.abort();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.due) clearTimeout(this.due.timer);
    this.due = undefined;
  }

  /** A change to one service: its backends are planned at the next reconcile. */
  private reconcileService(key: string): void {
    if (this.dirty !== "all") this.dirty.add(key);
    this.runner.trigger();
  }

  /** Every backend is planned at the next reconcile; `reread`: from a full read of HAProxy. */
  private reconcileAll(reread?: string): void {
    this.dirty = "all";
    if (reread !== undefined) this.cache.invalidate(reread);
    this.runner.trigger();
  }

  /** Runs a reconcile in `ms` unless one is already due sooner. */
  private runAgainIn(ms: number): void {
    if (this.stopping) return;
    const at = Date.now() + ms;
    if (this.due && this.due.at <= at) return;
    if (this.due) clearTimeout(this.due.timer);
    this.due = {
      at,
      timer: setTimeout(() => {
        this.due = undefined;
        this.reconcileAll();
      }, ms),
    };
  }

  /** The first problem of any service's answer, if one is in doubt. */
  private consulProblem(): string | undefined {
    return [...this.watches.values()].find((watch) => watch.problem !== undefined)?.problem;
  }

  /** One reconcile from the newest answers, under the inter-process lock. */
  private async reconcileNow(): Promise<void> {
    if (this.stopping) return;
    const watches = [...this.watches.values()];
    const problem = this.consulProblem();
    if (problem !== undefined || watches.some((watch) => watch.desired === undefined)) {
      this.recorder.skipped(problem ?? "waiting for the first Consul answer");
      // The changes seen meanwhile are applied with everything else once Consul is trusted.
      this.dirty = "all";
      return;
    }
    let scope = this.dirty;
    this.dirty = new Set();
    // A trigger already covered by the reconcile before it.
    if (scope !== "all" && scope.size === 0) return;
    const trust = await this.agentTrusted();
    if (trust === "not trusted") {
      this.dirty = "all";
      return;
    }
    // Every service was read afresh: every backend is planned from it.
    if (trust === "read afresh") scope = "all";
    const covered = scope === "all" ? watches : watches.filter((watch) => scope.has(watch.key));
    this.recorder.consulTrusted(true);
    const changedAt = watches.map((watch) => watch.takeChangedAt()).reduce<bigint | undefined>((earliest, at) => (at !== undefined && (earliest === undefined || at < earliest) ? at : earliest), undefined);
    const started = process.hrtime.bigint();
    try {
      const desired = mergeDesired(covered.map((watch) => watch.desired as DesiredState));
      const options = { state: this.cache, ...(scope === "all" ? {} : { services: scope }) };
      const outcome = await withLock(this.config.lockFile, () => reconcileWith(this.context, desired, options));
      const finished = process.hrtime.bigint();
      this.recorder.succeeded(outcome, Number(finished - started) / 1e9, changedAt === undefined ? undefined : Number(finished - changedAt) / 1e9);
      if (outcome.runAgainInMs !== undefined) this.runAgainIn(outcome.runAgainInMs);
    } catch (error) {
      this.recorder.failed(error);
      this.logger.error("reconcile failed; will retry", { detail: (error as Error).message });
      // HAProxy may be restarting: the Pid poll triggers again when it is back,
      // and a retry covers a passing fault. What was sent before the error is
      // not known: the retry reads HAProxy in full.
      this.dirty = "all";
      this.cache.invalidate("the last reconcile failed");
      this.runAgainIn(RETRY_AFTER_ERROR_MS);
    }
  }

  /**
   * Whether the answers in hand may be acted on: the local agent is a live
   * member, and they were read after it was last seen joining (else every
   * service is read afresh first). Not trusted: skipped, and asked again shortly.
   */
  private async agentTrusted(): Promise<"trusted" | "read afresh" | "not trusted"> {
    const verdict = await this.gate.check();
    if (verdict.kind === "trusted") return "trusted";
    let problem: string;
    let cause = "consul-agent-not-member";
    if (verdict.kind === "rejoined") {
      try {
        await this.readAfresh();
        return "read afresh";
      } catch (error) {
        this.gate.doubt();
        problem = (error as Error).message;
        if (error instanceof ConsulUntrusted) cause = `consul-${error.reason}`;
      }
    } else {
      problem = verdict.problem;
    }
    this.metrics.failures.inc({ cause });
    this.recorder.skipped(problem);
    this.runAgainIn(MEMBERSHIP_RECHECK_MS);
    return "not trusted";
  }

  /** Fresh (non-blocking) reads of every service, given to the watches. */
  private async readAfresh(): Promise<void> {
    const snapshots = await this.context.consul.readServices(this.config.services);
    for (const snapshot of snapshots) this.watches.get(snapshot.key)?.refresh(snapshot);
  }

  /** Full resync: fresh (non-blocking) reads of every service, then a reconcile. */
  private async resync(): Promise<void> {
    try {
      await this.readAfresh();
    } catch (error) {
      this.logger.warn("resync: Consul not trusted, keeping HAProxy as it is", { detail: (error as Error).message });
      return;
    }
    this.reconcileAll("periodic resync");
  }

  private async pollHaproxy(): Promise<void> {
    let info;
    try {
      info = await this.context.haproxy.showInfo();
    } catch {
      // HAProxy down: when it is back, its new Pid triggers the re-apply.
      if (this.restarts.observeFailure().kind === "lost") this.logger.warn("HAProxy's admin socket does not answer", { socket: this.config.haproxy.socket });
      return;
    }
    const seen = this.restarts.observe(info);
    if (seen.kind !== "restarted") return;
    this.logger.warn("HAProxy was reloaded or restarted; re-applying every slot", { pid: seen.pid, previousPid: seen.previousPid });
    this.metrics.haproxyRestarts.inc();
    // The kept connection may lead to the old process.
    this.context.haproxy.closeKept();
    this.reconcileAll("HAProxy reloaded or restarted");
  }

  health(): ControllerStatus {
    return this.recorder.health(this.consulProblem() ?? this.gate.problem);
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
    this.context.haproxy.closeKept();
    this.config = config;
    this.context = context;
    this.cache = new SlotCache(context.policy);
    this.dirty = "all";
    this.recorder.manage(context.policy.backends.map((backend) => backend.backend));
    this.restarts.reset();
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
    this.context.haproxy.closeKept();
    this.context.consul.close();
    this.context.promotions.close();
    this.logger.info("stopped");
  }
}
