// The vocabulary shared by the source of truth (Consul), the planner and the
// applier. Everything here is plain data: the planner is a pure function of
// these types, which is what makes it testable without Consul or HAProxy.
// What a slot holds that the handler sets (address, state, weight, maxconn)
// and the operations that set it come from the slot-settings table.
import type { BackendDefaults, NodeSlotSettings, SettingOperation, SlotSettingFields } from "./slot-settings.js";

export type { AdminState, BackendDefaults } from "./slot-settings.js";

/** Consul's view of one instance, folded into one word. */
export type Health = "passing" | "warning" | "critical" | "maintenance";

/** Which backends a node serves (the `pow` setting). */
export type PowMode = "false" | "true" | "only";

export type Scheme = "http" | "https";

/**
 * Per-node settings after validation. Unset numbers mean "the backend's
 * default": a reused slot is always reset to the node's value or the default.
 */
export interface NodeSettings extends NodeSlotSettings {
  pow: PowMode;
  scheme: Scheme;
  /** Only meaningful with scheme https. */
  sslVerify: boolean;
  /** Name of a check-timing class; "default" unless the node asks for another. */
  timeoutClass: string;
  /** Semantic version the node announces (MAJOR.MINOR.PATCH[-pre]); undefined when it announces none. */
  version?: string;
}

/** One instance of a configured Consul service, validated and ready to plan with. */
export interface Endpoint {
  serviceName: string;
  serviceId: string;
  node: string;
  /** An IP literal (v4 or v6), never a host name. */
  address: string;
  port: number;
  health: Health;
  settings: NodeSettings;
}

/**
 * One server slot as read back from HAProxy (`show stat` joined with
 * `show servers state`). The slot <-> node mapping is recovered from
 * address:port, so the handler needs no state of its own.
 */
export interface Slot extends SlotSettingFields {
  backend: string;
  /** Full server name, e.g. `irisrv12`. */
  name: string;
  /** The server-template prefix the slot belongs to, e.g. `irisrv`. */
  prefix: string;
  /** The slot number after the prefix; slots are filled lowest first. */
  number: number;
  /** HAProxy's own status column verbatim (`UP`, `DOWN 1/2`, `MAINT`, `no check`, ...). */
  status: string;
  /** Whether HAProxy runs health checks on this slot. */
  checksEnabled: boolean;
  /** Current sessions on the server (`scur`). */
  sessions: number;
  /** Seconds since the last status change (`lastchg`). */
  secondsSinceChange: number;
}

/** What one backend should look like, per slot class (server-template prefix). */
export interface SlotClass {
  /** Server-template prefix in the backend. */
  prefix: string;
  scheme: Scheme;
  /** For https classes: whether the template verifies the node's certificate. */
  sslVerify: boolean;
  timeoutClass: string;
  /**
   * Keywords for `add server` when the class runs out of slots and may grow
   * (for example `check`, `inter`, `2s`). Empty: the class never grows.
   */
  growKeywords: string[];
  /** Upper bound on the slot number when growing. */
  growLimit: number;
}

/** One HAProxy backend the handler manages, as the planner sees it. */
export interface BackendPolicy {
  backend: string;
  /** Version-aware routing for the backend's service; undefined = every healthy node serves. */
  versioning?: VersioningPolicy;
  /** `default` or `pow`: which node settings apply (pow, maxconn vs powMaxconn). */
  role: "default" | "pow";
  serviceName: string;
  classes: SlotClass[];
  defaults: BackendDefaults;
  /**
   * A portmap entry's backend (issue 17): every instance of the service
   * serves, whatever its `pow` setting, in the first slot class, whatever its
   * TLS and timeout settings (the entry's type and the rendered template set
   * those for all of them).
   */
  everyNode?: boolean;
  /** The port every node is reached on here instead of its own (a portmap entry's `:<port>`). */
  port?: number;
  /** Consul `warning` in this backend, instead of the policy's (a portmap entry's `health:`). */
  warningAs?: "ready" | "drain";
  /**
   * HAProxy may not have loaded this backend yet (a portmap entry added to KV
   * before HAProxy's reload): read as a backend with no slots, not as an error
   * that would stop every other backend's reconcile.
   */
  mayBeMissing?: boolean;
}

/** Which versions may serve side by side (see planner/versions.ts). */
export type Compatibility = "minor" | "major" | "exact";

export interface VersioningPolicy {
  compatible: Compatibility;
  prefer: "newest" | "oldest";
  /** 0..50: share of new requests for a newer generation while the serving one is healthy. */
  canaryPercent: number;
}

/** A generation's part in the traffic of its service. */
export type GenerationRole = "serving" | "canary" | "waiting";

export interface GenerationSummary {
  /** `1.0.x` (compatible minor), `1.x` (major), the full version (exact), or `unversioned`. */
  generation: string;
  role: GenerationRole;
  instances: number;
  healthy: number;
}

/** The version decision for one service, shared by its default and PoW backends. */
export interface VersionDecision {
  serviceName: string;
  /** The generation that takes the traffic; undefined only when the service has no instance. */
  serving?: string;
  /** The serving generation HAProxy showed before this plan (undefined: none yet, or a mix). */
  previous?: string;
  /** Set when `serving` differs from `previous`: why the traffic moves (for the log, once). */
  switchReason?: string;
  canary?: string;
  /** The promoted version that is in force, if any (from Consul KV). */
  promoted?: string;
  generations: GenerationSummary[];
  /** Service ID -> its generation and role. */
  members: Map<string, { generation: string; role: GenerationRole }>;
}

export interface PlannerPolicy {
  backends: BackendPolicy[];
  /** Consul `warning`: keep serving (ready) or take out gently (drain). */
  warningAs: "ready" | "drain";
  /** How long a node that left Consul is drained before its slot is freed. */
  drainSeconds: number;
  /** Fill slots with `health down` so traffic waits for HAProxy's own check. */
  holdDownUntilChecked: boolean;
  /** HAProxy's largest server weight (the runtime API's limit, from reconcile/policy.ts): canary weights stay within it. */
  maxWeight: number;
}

/** One runtime operation on a slot (a setting's, or one of these); the applier turns these into commands. */
export type SlotOperation =
  | SettingOperation
  | { kind: "set-health"; health: "up" | "down" }
  | { kind: "add-server"; address: string; port: number; keywords: string[] }
  | { kind: "enable-health" };

/**
 * Everything the planner wants done to one slot. `prepare` runs first for
 * every step; `activate` only runs for steps whose every prepare reply was a
 * success, so a failed `set server addr` never leads to enabling the slot.
 */
export interface PlanStep {
  backend: string;
  server: string;
  /** The Consul service ID the slot serves after this step, if any. */
  serviceId?: string;
  /** Why, in words for the log: `fill`, `update`, `drain: left Consul`, ... */
  reason: string;
  prepare: SlotOperation[];
  activate: SlotOperation[];
}

export interface LeftOut {
  backend: string;
  serviceId: string;
  reason: string;
}

/** Slot use per backend once the plan is applied (for metrics and status). */
export interface SlotUsage {
  backend: string;
  total: number;
  used: number;
  free: number;
}

export interface Plan {
  steps: PlanStep[];
  leftOut: LeftOut[];
  /** Slots held by a node that left Consul and are still draining. */
  draining: number;
  usage: SlotUsage[];
  /** One per service with versioning on. */
  versions: VersionDecision[];
}

/** Per-reconcile inputs besides endpoints and slots. */
export interface PlannerInputs {
  /** A backend's serviceName (its selection, e.g. `api?tag=live`) -> version promoted by the operator (`promote`), read from Consul KV. */
  promoted?: ReadonlyMap<string, string>;
}
