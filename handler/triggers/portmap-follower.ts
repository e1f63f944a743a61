// What `run` keeps of the load balancer's portmap (lb.enabled): the portmap it
// applies, why the newest read is not applied, and the watch that reads it.
// A portmap whose backends differ is handed to `apply` (the controller builds
// a new context with them, as for a config reload); one that would drop every
// entry at once is held (fail static).
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import type { Health } from "../metrics/outcome-recorder.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import { portmapChange, watchedSelections } from "../reconcile/portmap-policy.js";
import type { ServiceSelection } from "../planner/selection.js";
import { createContext, type HandlerContext } from "../reconcile/context.js";
import { reservedPortsOf } from "../source/portmap-kv.js";
import { PortmapWatch } from "../source/portmap-watch.js";

export type { LoadBalancerSpec } from "../portmap/spec.js";

export class PortmapFollower {
  /** The portmap whose backends the running context manages. */
  applied: LoadBalancerSpec | undefined;
  /** Why the newest read is not applied (unreadable, does not parse); for /healthz. */
  problem: string | undefined;

  constructor(private readonly apply: (spec: LoadBalancerSpec) => void) {}

  /** Starts the watch of the context's folder when lb.enabled, until `signal` aborts. */
  follow({ config, kv, logger }: HandlerContext, signal: AbortSignal): void {
    if (!config.lb.enabled) return;
    const options = { folder: config.lb.kvPrefix, reservedPorts: reservedPortsOf(config), waitSeconds: config.consul.blockingWaitSeconds };
    const listener = { spec: (spec: LoadBalancerSpec) => this.read(spec, config.lb.kvPrefix, logger), problem: (problem: string | undefined) => (this.problem = problem) };
    void new PortmapWatch(kv, options, logger, listener).run(signal);
  }

  /** The services `run` watches: `config`'s and the applied portmap's. */
  selections(config: HandlerConfig): ServiceSelection[] {
    return watchedSelections(config, this.applied);
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

  private read(spec: LoadBalancerSpec, folder: string, logger: Logger): void {
    const change = portmapChange(this.applied, spec);
    if (change === "held") logger.warn("the portmap lost every entry at once; keeping its backends' slots as they are (fail static) until it has entries again", { folder });
    if (change !== "apply") return;
    logger.info("applying the portmap", { folder, backends: spec.entries.map((entry) => entry.backendName) });
    this.apply(spec);
  }
}
