// The `run` trigger: a long-running controller that only wires the parts. The watches of every
// service (source/service-watches.ts; acted on only while the local agent is a live member of its
// cluster) and of the portmap (lb.enabled) trigger a CoalescingRunner (one reconcile runs, one waits,
// none is lost) over what changed (reconcile/scope.ts). It keeps HAProxy's slots in a SlotCache, polls
// `show info` for a reloaded or restarted HAProxy, resyncs periodically, records each outcome for
// /metrics and /healthz, and keeps one DueTimer for the next reconcile an outcome asks for.
import { setMaxListeners } from "node:events";
import { loadConfig, type HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { ServiceWatches } from "../source/service-watches.js";
import { closeContext, createContext, type HandlerContext } from "../reconcile/context.js";
import { RETRY_AFTER_ERROR_MS } from "../reconcile/run-again.js";
import { PendingScope, reconcileScope } from "../reconcile/scope.js";
import { HAPROXY_POLL_MS, RestartDetector } from "../haproxy-state/restart-detector.js";
import { SlotCache } from "../haproxy-state/cache.js";
import { HandlerMetrics } from "../metrics/handler-metrics.js";
import { OutcomeRecorder, type Health } from "../metrics/outcome-recorder.js";
import { CoalescingRunner } from "./coalescing-runner.js";
import { DueTimer } from "./due-timer.js";
import { startHttpListener, type HttpListener } from "./http-listener.js";
import { MEMBERSHIP_RECHECK_MS } from "../source/membership-gate.js";
import { PortmapFollower, type LoadBalancerSpec } from "./portmap-follower.js";

export class Controller {
  private context: HandlerContext;
  private watches: ServiceWatches | undefined;
  private abort = new AbortController();
  private readonly runner: CoalescingRunner;
  readonly metrics = new HandlerMetrics();
  private readonly recorder: OutcomeRecorder;
  private readonly restarts = new RestartDetector();
  private cache: SlotCache;
  /** What the next reconcile covers: the services changed since the last one, or every backend. */
  private readonly scope = new PendingScope();
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  /** The next reconcile an outcome asked for. */
  private readonly due = new DueTimer(() => this.reconcileAll());
  private listener: HttpListener | undefined;
  private reloads: Promise<void> = Promise.resolve();
  private readonly portmap = new PortmapFollower((spec) => void this.reload(spec), this.metrics);

  constructor(private readonly configFile: string, private config: HandlerConfig, private readonly logger: Logger) {
    this.context = createContext(config, logger);
    this.cache = new SlotCache(this.context.policy);
    this.recorder = new OutcomeRecorder(this.metrics, this.context.policy.backends.map((backend) => backend.backend));
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
          this.reconcileAll("POST /watch"); // an explicit request: a full reconcile from a fresh read, as `sync` does
        },
        // The tier's pending ACME challenges, from Consul KV: whichever load balancer orders, any may be asked.
        // Asked per request, not decided at start: a SIGHUP may turn lb.enabled on (the playbook's second run does).
        challenges: { get: (token: string) => (this.config.lb.enabled ? this.portmap.challengeStore().get(token) : Promise.resolve(undefined)) },
      });
      this.logger.info("listening", { address: this.listener.address });
    }
    this.startLoops();
  }

  private startLoops(): void {
    this.abort = new AbortController();
    // Every service watch and the portmap watch wait on this signal at once: dozens of listeners are expected.
    setMaxListeners(0, this.abort.signal);
    this.watches = new ServiceWatches(this.context.selections, this.context.consul, this.logger, this.config.consul.blockingWaitSeconds, {
      changed: (key) => this.reconcileService(key),
      failed: (_key, cause) => this.recorder.consulFailed(cause),
    });
    this.watches.start(this.abort.signal);
    this.portmap.follow(this.context, this.abort.signal);
    this.timers.push(setInterval(() => void this.resync(), this.config.run.resyncSeconds * 1000));
    this.timers.push(setInterval(() => void this.pollHaproxy(), HAPROXY_POLL_MS));
    void this.pollHaproxy();
  }

  private stopLoops(): void {
    this.abort.abort();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.due.cancel();
  }

  /** A change to one service: its backends are planned at the next reconcile. */
  private reconcileService(key: string): void {
    this.scope.service(key);
    this.runner.trigger();
  }

  /** Every backend is planned at the next reconcile; `reread`: from a full read of HAProxy. */
  private reconcileAll(reread?: string): void {
    this.scope.all();
    if (reread !== undefined) this.cache.invalidate(reread);
    this.runner.trigger();
  }

  /** One reconcile from the newest answers, under the inter-process lock. */
  private async reconcileNow(): Promise<void> {
    if (this.stopping || !this.watches) return;
    const doubt = this.watches.notTrusted();
    if (doubt !== undefined) return this.skip(doubt);
    let scope = this.scope.take();
    if (scope === undefined) return; // a trigger already covered by the reconcile before it
    // The answers are taken before the agent is asked: a check that finds it a member vouches only for
    // answers read before it (one read meanwhile triggers another reconcile, with a check of its own).
    let desired = this.watches.desired(scope);
    const admitted = await this.watches.admit();
    if (admitted.kind === "not-trusted") return this.skip(admitted.problem, admitted.cause);
    if (admitted.kind === "read-afresh") {
      scope = "all"; // every service was read afresh: every backend is planned
      desired = this.watches.desired(scope);
    }
    this.recorder.consulTrusted(true);
    const changedAt = this.watches.takeEarliestChange();
    const started = process.hrtime.bigint();
    try {
      const outcome = await reconcileScope(this.context, desired, scope, this.cache);
      const finished = process.hrtime.bigint();
      this.recorder.succeeded(outcome, Number(finished - started) / 1e9, changedAt === undefined ? undefined : Number(finished - changedAt) / 1e9);
      if (outcome.runAgainInMs !== undefined) this.due.runIn(outcome.runAgainInMs);
    } catch (error) {
      this.recorder.failed(error);
      this.logger.error("reconcile failed; will retry", { detail: (error as Error).message });
      // HAProxy may be restarting (the Pid poll triggers when it is back), or a fault passes:
      // a retry, from a full read of HAProxy, since what was sent before the error is not known.
      this.scope.all();
      this.cache.invalidate("the last reconcile failed");
      this.due.runIn(RETRY_AFTER_ERROR_MS);
    }
  }

  /** Consul not trusted: nothing applied; what changed meanwhile is applied with everything else once it is. `cause`: the local agent is not a member (asked again shortly). */
  private skip(problem: string, cause?: string): void {
    this.recorder.skipped(problem);
    this.scope.all();
    if (cause === undefined) return;
    this.recorder.consulFailed(cause);
    this.due.runIn(MEMBERSHIP_RECHECK_MS);
  }

  /** Full resync: fresh (non-blocking) reads of every service, then a reconcile. */
  private async resync(): Promise<void> {
    await this.watches?.resync().then(() => this.reconcileAll("periodic resync"), (error: Error) => this.logger.warn("resync: Consul not trusted, keeping HAProxy as it is", { detail: error.message }));
  }

  private async pollHaproxy(): Promise<void> {
    const seen = await this.restarts.poll(this.context.haproxy);
    if (seen.kind === "lost") this.logger.warn("HAProxy's admin socket does not answer", { socket: this.config.haproxy.socket, then: "its new Pid re-applies every slot when it is back" });
    if (seen.kind !== "restarted") return;
    this.logger.warn("HAProxy was reloaded or restarted; re-applying every slot", { pid: seen.pid, previousPid: seen.previousPid });
    this.metrics.haproxyRestarts.inc();
    this.context.haproxy.closeKept(); // the kept connection may lead to the old process
    this.reconcileAll("HAProxy reloaded or restarted");
  }

  health(): Health {
    return this.portmap.health(this.recorder.health(this.watches?.problem() ?? this.watches?.membershipProblem()));
  }

  /** SIGHUP (no portmap): load the config again; a bad file keeps the running one. A portmap: apply it with the running config. One at a time (two at once would both start loops), each after the last however it ended. */
  reload(portmap?: LoadBalancerSpec): Promise<void> {
    return (this.reloads = this.reloads.catch(() => undefined).then(() => this.reloadOnce(portmap)));
  }

  private async reloadOnce(portmap: LoadBalancerSpec | undefined): Promise<void> {
    if (this.stopping || (portmap !== undefined && !this.portmap.changes(portmap))) return;
    let context: HandlerContext;
    try {
      // Built before anything stops: unusable CONSUL_* variables or TLS files keep the running config too.
      context = this.portmap.contextFor(portmap === undefined ? loadConfig(this.configFile) : this.config, this.logger, portmap);
    } catch (error) {
      this.logger.error("config reload failed; keeping the running config", { detail: (error as Error).message });
      this.metrics.configReloads.inc({ result: "failed" });
      return;
    }
    if (portmap === undefined) this.logger.info("reloading the config", { file: this.configFile });
    this.stopLoops();
    this.runner.pause();
    await this.runner.idle().catch(() => undefined);
    this.runner.clearWaiting();
    if (this.stopping) return closeContext(context); // stop() came meanwhile: its loops stay stopped
    closeContext(this.context);
    this.config = context.config;
    this.context = context;
    this.cache = new SlotCache(context.policy);
    this.scope.all();
    this.recorder.manage(context.policy.backends.map((backend) => backend.backend));
    this.restarts.reset();
    this.runner.resume();
    this.startLoops();
    if (portmap === undefined) this.metrics.configReloads.inc({ result: "ok" });
  }

  /** SIGTERM: no new work, finish the batch in flight, close everything. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.due.close();
    this.stopLoops();
    this.runner.clearWaiting();
    await this.runner.idle();
    await this.listener?.close();
    closeContext(this.context);
    this.logger.info("stopped");
  }
}
