// The handler's own metrics, served on /metrics by `run`.
import { Counter, Gauge, Histogram, Registry } from "./registry.js";

export class HandlerMetrics {
  readonly registry = new Registry();
  readonly reconciles = this.registry.register(new Counter("chh_reconciles_total", "Reconciles run, by result (ok, failed, skipped)."));
  readonly failures = this.registry.register(new Counter("chh_failures_total", "Failures by cause (consul-<reason>, haproxy, command, lock, left-out)."));
  readonly slots = this.registry.register(new Gauge("chh_slots", "Slots per backend and use (used, free) after the last reconcile."));
  readonly leftOut = this.registry.register(new Gauge("chh_nodes_left_out", "Nodes left out (no free slot or no slot class) after the last reconcile."));
  readonly rejected = this.registry.register(new Gauge("chh_nodes_rejected", "Nodes left out for invalid settings after the last reconcile."));
  readonly lastSuccess = this.registry.register(new Gauge("chh_last_success_timestamp_seconds", "Unix time of the last successful reconcile."));
  readonly consulTrusted = this.registry.register(new Gauge("chh_consul_trusted", "1 while every service's last Consul answer was trusted, else 0."));
  readonly watchRequests = this.registry.register(new Counter("chh_watch_requests_total", "POST /watch requests received (Consul watches with handler_type http)."));
  readonly haproxyRestarts = this.registry.register(new Counter("chh_haproxy_restarts_total", "HAProxy reloads or restarts noticed (Pid or uptime changed)."));
  readonly massRemovalHeld = this.registry.register(
    new Gauge("chh_mass_removal_held", "Nodes per backend that a held mass removal keeps as they are (0: nothing held); see policy.maxRemovalFraction."),
  );
  readonly servingVersion = this.registry.register(new Gauge("chh_serving_version", "1 for the generation that serves each service with versioning on (label version: 1.4.x, 2.x or the exact version)."));
  readonly versionSwitches = this.registry.register(new Counter("chh_version_switches_total", "Switches of the serving generation, per service."));
  readonly reconcileSeconds = this.registry.register(new Histogram("chh_reconcile_duration_seconds", "Time for one reconcile (read HAProxy, plan, apply).", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]));
  readonly changeToApplied = this.registry.register(
    new Histogram("chh_change_to_applied_seconds", "From a Consul answer with a change to the change applied in HAProxy.", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
  );
}
