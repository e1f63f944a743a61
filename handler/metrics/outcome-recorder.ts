// Records what each reconcile of `run` did: the metrics on /metrics and the
// state /healthz reports. A reconcile may cover only some backends (a change
// to one service plans only its backends), so per-backend and per-service
// figures are kept and replaced for what the reconcile covered; the rest
// stay as the last reconcile that covered them left them.
import { ConsulUntrusted } from "../source/consul-untrusted.js";
import { LockTimeout } from "../reconcile/lock.js";
import { describeHold, type HeldRemoval } from "../planner/mass-removal.js";
import type { ReconcileOutcome } from "../reconcile/reconcile.js";
import { reconcileResult } from "../reconcile/result.js";
import type { HandlerMetrics } from "./handler-metrics.js";

export interface Health {
  healthy: boolean;
  reason: string;
}

interface BackendFigures {
  used: number;
  free: number;
  leftOut: number;
  held: HeldRemoval[];
}

export class OutcomeRecorder {
  private last: { ok: boolean; reason: string } = { ok: false, reason: "no reconcile yet" };
  private readonly backends = new Map<string, BackendFigures>();
  private readonly serving = new Map<string, string>();
  private readonly rejected = new Map<string, number>();

  /** Every managed backend, for the mass_removal_held gauge (0 where nothing is held). */
  private allBackends: string[] = [];

  constructor(
    private readonly metrics: HandlerMetrics,
    backends: readonly string[],
  ) {
    this.manage(backends);
  }

  /** The managed backends (again after a config reload): figures of the others are dropped. */
  manage(backends: readonly string[]): void {
    this.allBackends = [...new Set(backends)];
    for (const backend of this.backends.keys()) if (!this.allBackends.includes(backend)) this.backends.delete(backend);
  }

  /** Nothing applied: a service's answer is in doubt or not there yet. */
  skipped(reason: string): void {
    this.metrics.reconciles.inc({ result: "skipped" });
    this.metrics.consulTrusted.set(0);
    this.last = { ok: false, reason };
  }

  consulTrusted(trusted: boolean): void {
    this.metrics.consulTrusted.set(trusted ? 1 : 0);
  }

  /** Consul's answer is not trusted, for this cause (a failure cause: `consul-<reason>`). */
  consulFailed(cause: string): void {
    this.metrics.failures.inc({ cause });
    this.consulTrusted(false);
  }

  /** The reconcile threw: HAProxy, the lock, or Consul KV (the promoted versions). */
  failed(error: unknown): void {
    this.metrics.reconciles.inc({ result: "failed" });
    this.metrics.failures.inc({ cause: error instanceof LockTimeout ? "lock" : error instanceof ConsulUntrusted ? `consul-${error.reason}` : "haproxy" });
    this.last = { ok: false, reason: (error as Error).message };
  }

  /** A reconcile that ran; `seconds` it took, `changeToAppliedSeconds` from the Consul change it applied. */
  succeeded(outcome: ReconcileOutcome, seconds: number, changeToAppliedSeconds: number | undefined): void {
    this.metrics.reconcileSeconds.observe(seconds);
    if (changeToAppliedSeconds !== undefined) this.metrics.changeToApplied.observe(changeToAppliedSeconds);
    const failures = outcome.report?.failures.length ?? 0;
    const ok = failures === 0;
    // In the words of sync's and watch's exit codes (reconcile/result.ts).
    this.metrics.reconciles.inc({ result: reconcileResult(outcome) });
    if (failures > 0) this.metrics.failures.inc({ cause: "command" }, failures);
    if (outcome.plan.leftOut.length > 0) this.metrics.failures.inc({ cause: "left-out" });
    if (outcome.held.length > 0) this.metrics.failures.inc({ cause: "mass-removal-held" });
    if (ok) this.metrics.lastSuccess.set(Math.floor(Date.now() / 1000));
    this.last = { ok, reason: ok ? "ok" : `${failures} command(s) refused by HAProxy` };
    this.keepFigures(outcome);
    this.publish();
    for (const decision of outcome.plan.versions) {
      if (decision.switchReason !== undefined) this.metrics.versionSwitches.inc({ service: decision.serviceName });
    }
  }

  private keepFigures(outcome: ReconcileOutcome): void {
    for (const backend of outcome.covered.backends) this.backends.set(backend, { used: 0, free: 0, leftOut: 0, held: [] });
    for (const usage of outcome.plan.usage) {
      const figures = this.backends.get(usage.backend);
      if (!figures) continue;
      figures.used += usage.used;
      figures.free += usage.free;
    }
    for (const left of outcome.plan.leftOut) {
      const figures = this.backends.get(left.backend);
      if (figures) figures.leftOut += 1;
    }
    for (const hold of outcome.held) this.backends.get(hold.backend)?.held.push(hold);
    for (const service of outcome.covered.services) {
      this.serving.delete(service);
      this.rejected.set(service, 0);
    }
    for (const decision of outcome.plan.versions) if (decision.serving !== undefined) this.serving.set(decision.serviceName, decision.serving);
    for (const rejection of outcome.rejected) this.rejected.set(rejection.service, (this.rejected.get(rejection.service) ?? 0) + 1);
  }

  private publish(): void {
    const figures = [...this.backends];
    this.metrics.slots.replaceAll(
      figures.flatMap(([backend, { used, free }]) => [
        { labels: { backend, use: "used" }, value: used },
        { labels: { backend, use: "free" }, value: free },
      ]),
    );
    this.metrics.leftOut.set(figures.reduce((total, [, each]) => total + each.leftOut, 0));
    this.metrics.rejected.set([...this.rejected.values()].reduce((total, count) => total + count, 0));
    this.metrics.massRemovalHeld.replaceAll(
      this.allBackends.map((backend) => ({ labels: { backend }, value: (this.backends.get(backend)?.held ?? []).reduce((total, hold) => total + hold.leaving, 0) })),
    );
    this.metrics.servingVersion.replaceAll([...this.serving].map(([service, version]) => ({ labels: { service, version }, value: 1 })));
  }

  /** The mass removals held now, in every backend. */
  held(): HeldRemoval[] {
    return [...this.backends.values()].flatMap((figures) => figures.held);
  }

  /** /healthz: `consulProblem` is why a service's answer is in doubt, if one is. */
  health(consulProblem: string | undefined): Health {
    if (consulProblem !== undefined) return { healthy: false, reason: `Consul not trusted: ${consulProblem}` };
    if (!this.last.ok) return { healthy: false, reason: this.last.reason };
    const held = this.held();
    if (held.length > 0) return { healthy: false, reason: held.map((hold) => describeHold(hold)).join("; ") };
    return { healthy: true, reason: "ok" };
  }
}
