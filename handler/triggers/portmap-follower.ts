// What `run` keeps of the load balancer's portmap (lb.enabled): the portmap it
// applies, why the newest read is not applied, and the watch that reads it.
// Each portmap read is first rendered into HAProxy when lb.render is on (the
// files, `haproxy -c`, a reload: only when the rendering differs from disk),
// then, when its backends differ, handed to `apply` (the controller builds a
// new context with them, as for a config reload). One that would drop every
// entry at once is held (fail static); a render that fails is retried.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { Health } from "../metrics/outcome-recorder.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import { portmapChange } from "../reconcile/portmap-policy.js";
import { createContext, type HandlerContext } from "../reconcile/context.js";
import { heldListeners, renderPortmap } from "../reconcile/render-portmap.js";
import { HOLD_RECHECK_MS } from "../reconcile/run-again.js";
import { reservedPortsOf } from "../source/portmap-kv.js";
import { PortmapWatch, type PortmapProblem } from "../source/portmap-watch.js";
import type { HandlerMetrics } from "../metrics/handler-metrics.js";
import { LoadBalancerCertificates, type CertificateTargets } from "../reconcile/lb-certificates.js";
import { challengeFolderOfPortmap, KvChallengeStore } from "../source/acme-challenges.js";

export type { LoadBalancerSpec } from "../portmap/spec.js";

/** How soon a failed render and reload is tried again. */
const RENDER_RETRY_MS = 10_000;

export class PortmapFollower {
  /** The portmap whose backends the running context manages. */
  applied: LoadBalancerSpec | undefined;
  /** Why the newest read is not applied (unreadable, does not parse); for /healthz. */
  problem: string | undefined;
  private reads: Promise<void> = Promise.resolve();
  /** An emptied portmap is held (logged once, looked at again every HOLD_RECHECK_MS). */
  private holding = false;
  /** The newest portmap read: an older one waiting its turn, or a retry of it, is dropped. */
  private latest: LoadBalancerSpec | undefined;
  /** The newest portmap whose rendering is in HAProxy: orders are for it (its http listeners answer the CA's validation). */
  private rendered: LoadBalancerSpec | undefined;
  /** The context `follow` was last given: the certificates work through it. */
  private newest: HandlerContext | undefined;
  private challenges: { context: HandlerContext; store: KvChallengeStore } | undefined;
  private readonly certificates = new LoadBalancerCertificates(() => this.certificateTargets());

  constructor(
    private readonly apply: (spec: LoadBalancerSpec) => void,
    private readonly metrics: HandlerMetrics,
  ) {}

  /** Starts the watch of the context's folder when lb.enabled, until `signal` aborts. */
  follow(context: HandlerContext, signal: AbortSignal): void {
    const { config, kv, logger } = context;
    this.newest = context;
    if (!config.lb.enabled) return;
    const options = { folder: config.lb.kvPrefix, reservedPorts: reservedPortsOf(config), waitSeconds: config.consul.blockingWaitSeconds };
    const listener = { spec: (spec: LoadBalancerSpec) => this.read(spec, context, signal), problem: (problem: string | undefined, kind?: PortmapProblem) => this.doubt(problem, kind) };
    void new PortmapWatch(kv, options, logger, listener).run(signal);
    if (!config.lb.render) return;
    // Due orders looked for every lb.certificateCheckSeconds (renewal, a failed order's retry: the manager's own rule and backoff decide whether one is due).
    // Not `latest`: a check during a slow first rendering would order before HAProxy has the http listener the CA validates through, and the refused order would hold the certificate back for its retry wait.
    const timer = setInterval(() => {
      const spec = this.rendered;
      if (spec !== undefined) void this.renewCertificates(spec, context);
    }, config.lb.certificateCheckSeconds * 1000);
    timer.unref();
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  }

  /** The context `follow` was last given; throws before the first. */
  private newestContext(): HandlerContext {
    if (this.newest === undefined) throw new Error("no context to work with yet: run has not started following the portmap");
    return this.newest;
  }

  /** The tier's challenge responses over the newest context's Consul connection: orders write there, run's listener answers from it. */
  challengeStore(): KvChallengeStore {
    const context = this.newestContext();
    if (this.challenges?.context !== context) this.challenges = { context, store: new KvChallengeStore(context.kv, challengeFolderOfPortmap(context.config.lb.kvPrefix)) };
    return this.challenges.store;
  }

  /** What the certificates work with: the newest context's clients (an order outlives the context it began in). */
  private certificateTargets(): CertificateTargets {
    const { config, logger, haproxy } = this.newestContext();
    return { config, logger, haproxy, challenges: this.challengeStore(), onOrder: (result) => this.metrics.certificateOrders.inc({ result }) };
  }

  /** A due order, in the background (an order takes seconds); its outcome is the manager's to log. A failed swap is logged here. */
  private async renewCertificates(spec: LoadBalancerSpec, context: HandlerContext): Promise<void> {
    try {
      await this.certificates.renew(spec);
    } catch (error) {
      context.logger.error("the certificate could not be served; HAProxy keeps the one it has", { detail: (error as Error).message });
    }
  }

  private doubt(problem: string | undefined, kind: PortmapProblem | "render" | undefined): void {
    this.problem = problem;
    if (kind !== undefined) this.metrics.portmapProblems.inc({ reason: kind });
  }

  /** /healthz: unhealthy with the portmap's problem when nothing else is wrong. */
  health(others: Health): Health {
    return others.healthy && this.problem !== undefined ? { healthy: false, reason: this.problem } : others;
  }

  /** Whether `spec` still changes the backends (a queued apply may have been overtaken). */
  changes(spec: LoadBalancerSpec): boolean {
    return portmapChange(this.applied, spec) === "apply";
  }

  /**
   * A context for `config` with the portmap it manages: `spec` when one is
   * being applied, else the applied one while lb.enabled. That portmap counts
   * as applied from here on. Throws what createContext throws.
   */
  contextFor(config: HandlerConfig, logger: Logger, spec: LoadBalancerSpec | undefined): HandlerContext {
    const managed = spec ?? (config.lb.enabled ? this.applied : undefined);
    const context = createContext(config, logger, managed);
    this.applied = managed;
    return context;
  }

  /** One read at a time: a render and reload finish before the next read is looked at. */
  private read(spec: LoadBalancerSpec, context: HandlerContext, signal: AbortSignal): void {
    this.latest = spec;
    this.reads = this.reads.then(() => this.readOnce(spec, context, signal)).catch((error: unknown) => void context.logger.error("following the portmap failed", { detail: (error as Error).message }));
  }

  private async readOnce(spec: LoadBalancerSpec, context: HandlerContext, signal: AbortSignal): Promise<void> {
    // A newer read came meanwhile, or the loops stopped (a new context reads again).
    if (signal.aborted || spec !== this.latest) return;
    const { config, logger } = context;
    const folder = config.lb.kvPrefix;
    const change = portmapChange(this.applied, spec);
    // With lb.render, what HAProxy serves is the rendered file's listeners: they are held while the file
    // has them (also for a handler that starts on an emptied folder, which has applied nothing yet), and
    // released once `sync --allow-mass-removal` has rendered the empty portmap. Without lb.render the
    // hold lasts until the folder has entries again.
    const held = spec.entries.length === 0 && (config.lb.render ? heldListeners(context, spec) > 0 : change === "held");
    if (held) {
      if (!this.holding) logger.warn("the portmap lost every entry at once; keeping its listeners and its backends' slots as they are (fail static) until it has entries again or 'sync --allow-mass-removal' is run", { folder });
      this.holding = true;
      // `sync --allow-mass-removal` changes no KV index: look at the rendered file again.
      setTimeout(() => spec === this.latest && this.read(spec, context, signal), HOLD_RECHECK_MS).unref();
      return;
    }
    if (this.holding && spec.entries.length === 0) logger.warn("the emptied portmap was released ('sync --allow-mass-removal'): its backends are no longer managed", { folder });
    this.holding = false;
    if (config.lb.render) {
      try {
        // The served certificate (a placeholder at first) before a rendering whose TLS binds need one.
        await this.certificates.prepare(spec).catch((error: unknown) => {
          // Not fatal to the rendering: a TLS bind with no certificate at all fails `haproxy -c`, which says so.
          logger.error("the certificate for certificate_name could not be prepared; rendering the portmap without it", { folder, detail: (error as Error).message });
        });
        const applied = await renderPortmap(context, spec);
        this.rendered = spec;
        // A retried render that went through: nothing is in doubt any more.
        this.problem = undefined;
        if (applied.kind === "reloaded") logger.info("HAProxy reloaded with the portmap", { folder, file: config.lb.configFile, pid: applied.pid, previousPid: applied.previousPid });
        if (applied.kind === "routes") logger.info("the portmap's routes swapped in without a reload", { folder, maps: applied.maps });
        if (applied.kind !== "unchanged") this.metrics.portmapChanges.inc({ how: applied.kind === "reloaded" ? "reload" : "routes" });
        // An order for new names (or the first) right away rather than at the next minute.
        void this.renewCertificates(spec, context);
      } catch (error) {
        this.doubt(`the portmap under ${folder} is not in HAProxy: ${(error as Error).message}`, "render");
        // A fix outside KV (a certificate directory, the master socket) changes no index: try again.
        setTimeout(() => spec === this.latest && this.read(spec, context, signal), RENDER_RETRY_MS).unref();
        return void logger.error(`${this.problem}; HAProxy keeps the configuration it has, trying again in ${RENDER_RETRY_MS / 1000} s`, { folder });
      }
    }
    if (change !== "apply") return;
    logger.info("applying the portmap", { folder, backends: spec.entries.map((entry) => entry.backendName) });
    this.apply(spec);
  }
}
