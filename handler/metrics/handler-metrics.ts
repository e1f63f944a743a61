// The handler's own metrics, served on /metrics by `run` next to prom-client's
// default process_* and nodejs_* metrics. Names get the program's prefix,
// consul_haproxy_handler_ (registry.ts; a chh_ name is renamed). Every
// counter with labels starts with its documented label values at 0.
import { Counter, Gauge, Histogram, Registry } from "./registry.js";
import { packageVersion } from "../version.js";

/** The causes failures_total is documented with (consul-<reason> per ConsulUntrusted reason). */
export const FAILURE_CAUSES = [
  "consul-unreachable",
  "consul-http-error",
  "consul-acl-denied",
  "consul-no-leader",
  "consul-acl-filtered",
  "consul-bad-answer",
  "consul-token",
  "consul-truncated",
  "consul-timeout",
  "consul-agent-not-member",
  "consul-error",
  "haproxy",
  "command",
  "lock",
  "left-out",
  "mass-removal-held",
] as const;

export class HandlerMetrics {
  readonly registry = new Registry();
  readonly buildInfo = this.registry.register(new Gauge("build_info", "Always 1; the labels say which handler (version) runs on which Node.js (node_version)."));
  readonly reconciles = this.registry.register(
    new Counter("reconciles_total", "Reconciles run, by result (ok; left-out: applied, but nodes left out for want of a slot or class; failed; skipped).", ["ok", "left-out", "failed", "skipped"].map((result) => ({ result }))),
  );
  readonly failures = this.registry.register(
    new Counter(
      "failures_total",
      "Failures by cause: consul-<reason> (Consul not trusted: unreachable, http-error, acl-denied, no-leader, acl-filtered, bad-answer, token, truncated, timeout, agent-not-member), haproxy, command, lock, left-out, mass-removal-held.",
      FAILURE_CAUSES.map((cause) => ({ cause })),
    ),
  );
  readonly configReloads = this.registry.register(
    new Counter("config_reloads_total", "Config reloads (SIGHUP), by result: ok, or failed (the running config was kept).", ["ok", "failed"].map((result) => ({ result }))),
  );
  readonly slots = this.registry.register(new Gauge("slots", "Slots per backend and use (used, free) after the last reconcile."));
  readonly leftOut = this.registry.register(new Gauge("nodes_left_out", "Nodes left out (no free slot or no slot class) after the last reconcile."));
  readonly rejected = this.registry.register(new Gauge("nodes_rejected", "Nodes left out for invalid settings after the last reconcile."));
  readonly lastSuccess = this.registry.register(new Gauge("last_success_timestamp_seconds", "Unix time of the last successful reconcile."));
  readonly consulTrusted = this.registry.register(new Gauge("consul_trusted", "1 while every service's last Consul answer was trusted, else 0."));
  readonly watchRequests = this.registry.register(new Counter("watch_requests_total", "POST /watch requests received (Consul watches with handler_type http)."));
  readonly haproxyRestarts = this.registry.register(new Counter("haproxy_restarts_total", "HAProxy reloads or restarts noticed (Pid or uptime changed)."));
  readonly massRemovalHeld = this.registry.register(
    new Gauge("mass_removal_held", "Nodes per backend that a held mass removal keeps as they are (0: nothing held); see policy.maxRemovalFraction."),
  );
  readonly servingVersion = this.registry.register(new Gauge("serving_version", "1 for the generation that serves each service with versioning on (label version: 1.4.x, 2.x or the exact version)."));
  readonly versionSwitches = this.registry.register(new Counter("version_switches_total", "Switches of the serving generation, per service."));
  readonly portmapProblems = this.registry.register(
    new Counter(
      "portmap_problems_total",
      "Portmap reads not applied, by reason: unreadable (Consul KV not trusted), invalid (the keys do not parse), render (haproxy -c, the files or the reload failed).",
      ["unreadable", "invalid", "render"].map((reason) => ({ reason })),
    ),
  );
  readonly certificateOrders = this.registry.register(
    new Counter(
      "certificate_orders_total",
      "ACME orders for the portmap's certificate_name, by result: issued (served from then on), failed (the served certificate stays; the CA's reason is in the log and status).",
      ["issued", "failed"].map((result) => ({ result })),
    ),
  );
  readonly portmapChanges = this.registry.register(
    new Counter("portmap_changes_total", "Portmap changes put into HAProxy, by how: reload (listeners or backends), routes (maps swapped, no reload).", ["reload", "routes"].map((how) => ({ how }))),
  );
  readonly reconcileSeconds = this.registry.register(new Histogram("reconcile_duration_seconds", "Time for one reconcile (read HAProxy, plan, apply).", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]));
  readonly changeToApplied = this.registry.register(
    new Histogram("change_to_applied_seconds", "From a Consul answer with a change to the change applied in HAProxy.", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
  );

  constructor() {
    this.buildInfo.set(1, { version: packageVersion(), node_version: process.version });
  }
}
