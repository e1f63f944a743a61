// `run`'s trust in its local Consul agent: answers are acted on only while
// the agent is known to be a live member of its cluster (see
// source/agent-membership.ts), and only answers read after it was last seen
// joining. A watch that failed (the agent went away: restarted, say) puts
// that trust in doubt; the next reconcile asks the agent again, and once it
// is a member every service is read afresh before anything is planned, since
// the watches' answers may have been read while it was still rejoining.
// The watches need not fail for the node to leave and come back (its
// servers deregister a node that left, late under load, and register it
// again): the serfHealth check's indexes, compared at every check, say so.
import type { Logger } from "../log.js";
import type { MembershipCheck } from "./agent-membership.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

/** While the agent is not a member it is asked this often, so that `run` converges within ~2 s of it rejoining. */
export const MEMBERSHIP_RECHECK_MS = 500;

/**
 * How long a rejoined agent's checks may take to settle (each run once, its
 * status synced), counted from its first answer as a live but unsettled
 * member, before the gate settles for less: its node alive (serfHealth
 * passing), which stays required. A check that never runs, or a script
 * check that fails with no output, reads as "not run yet" for ever; without
 * this bound `run` would leave HAProxy as it is for ever after an agent
 * restart. A check's first run takes seconds.
 */
export const SETTLE_LIMIT_MS = 30_000;

/**
 * The same for registrations missing from the catalog. The servers
 * deregister a node that left; when they do so after the restarted agent
 * has already synced (a loaded leader works through its events late), the
 * agent believes itself in sync and puts its services back only at its next
 * full sync, which comes every minute or so. Believed before that, the
 * missing instances are drained as gone.
 */
export const REGISTRATIONS_LIMIT_MS = 180_000;

export type GateVerdict =
  /** A member, and seen as one before the answers in hand were read. */
  | { kind: "trusted" }
  /** A member again (or for the first time): read every service afresh, then reconcile. */
  | { kind: "rejoined" }
  /** Not a member: HAProxy left as it is; ask again in MEMBERSHIP_RECHECK_MS. */
  | { kind: "not-member"; problem: string };

export type Admission = { kind: "trusted" | "read-afresh" } | { kind: "not-trusted"; problem: string; cause: string };

export class MembershipGate {
  /** Seen as a member, and no watch failed since. */
  private trusted = false;
  /** Why the agent is not trusted now (for /healthz); undefined while it is. */
  problem: string | undefined;
  private uncheckedLogged = false;
  /** The failure cause of the last not-member verdict: why the agent could not be asked, else not a member. */
  private cause = "consul-agent-not-member";
  /** Since when the agent has answered as alive but not settled (undefined: it has not). */
  private settlingSince: number | undefined;
  /** The serfHealth stamp of the last member verdict: another one means the node left or failed and came back. */
  private serfStamp: string | undefined;

  constructor(
    private readonly ask: (depth: "member" | "settled") => Promise<MembershipCheck>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** A watch failed: the agent may have restarted, and its next answers may be read before it rejoins. */
  doubt(): void {
    this.trusted = false;
  }

  async check(): Promise<GateVerdict> {
    // Trusted: the node alive is enough. In doubt, the agent may just have restarted: it must have settled too.
    const depth = this.trusted ? "member" : "settled";
    this.cause = "consul-agent-not-member";
    const asked = await this.ask(depth).catch((error: unknown): MembershipCheck => {
      // The agent could not be asked (unreachable, no leader, a timeout): counted under that reason.
      if (error instanceof ConsulUntrusted) this.cause = `consul-${error.reason}`;
      return { kind: "not-member", problem: (error as Error).message };
    });
    if (asked.kind === "member" && this.trusted && this.serfStamp !== undefined && asked.serfStamp !== this.serfStamp) {
      // Alive now, but the node left or failed since the last check, unseen by the watches (they did not
      // fail): the answers in hand may be from in between, and its registrations may not be back. Settled again.
      this.logger.warn("the local Consul agent's node left or failed and came back since it was last checked; waiting for it to settle, then reading every service afresh", { node: asked.node });
      this.trusted = false;
      return this.check();
    }
    const verdict = this.withinSettleLimits(asked);
    if (verdict.kind === "not-member") {
      if (this.problem !== verdict.problem) this.logger.error("the local Consul agent is not a live member of its cluster; HAProxy left as it is", { detail: verdict.problem });
      this.problem = verdict.problem;
      this.trusted = false;
      return { kind: "not-member", problem: verdict.problem };
    }
    if (verdict.kind === "unchecked" && !this.uncheckedLogged) {
      this.uncheckedLogged = true;
      this.logger.warn("cannot check that the local Consul agent is a live member of its cluster; its answers are believed as they come", { detail: verdict.why });
    }
    this.serfStamp = verdict.kind === "member" ? verdict.serfStamp : undefined;
    if (this.problem !== undefined) this.logger.info("the local Consul agent is a live member of its cluster again; reading every service afresh", verdict.kind === "member" ? { node: verdict.node } : {});
    this.problem = undefined;
    if (this.trusted) return { kind: "trusted" };
    this.trusted = true;
    return { kind: "rejoined" };
  }

  /**
   * An unsettled agent is not a member until it has been unsettled for its
   * limit (counted from its first such answer: time while it was down or not
   * alive, restarting, does not use it up); then it is, with a warning.
   */
  private withinSettleLimits(asked: MembershipCheck): MembershipCheck {
    if (asked.kind !== "unsettled") {
      this.settlingSince = undefined;
      return asked;
    }
    const now = this.now();
    this.settlingSince ??= now;
    const limitMs = asked.waitingFor === "registrations" ? REGISTRATIONS_LIMIT_MS : SETTLE_LIMIT_MS;
    if (now - this.settlingSince < limitMs) return { kind: "not-member", problem: asked.problem };
    this.logger.warn("the local Consul agent did not settle within the limit; its answers are believed now that its node is alive", { limitMs, detail: asked.problem });
    this.settlingSince = undefined;
    return { kind: "member", node: asked.node, serfStamp: asked.serfStamp };
  }

  /**
   * Whether the answers in hand may be acted on: `trusted`, or `read-afresh`
   * once `readAfresh` has given every watch a fresh answer (the agent just
   * (re)joined), or `not-trusted` with the failure cause for the metrics.
   */
  async admit(readAfresh: () => Promise<void>): Promise<Admission> {
    const verdict = await this.check();
    if (verdict.kind === "trusted") return { kind: "trusted" };
    if (verdict.kind === "not-member") return { kind: "not-trusted", problem: verdict.problem, cause: this.cause };
    try {
      await readAfresh();
      // The fresh answers were read after the check that let them be read: asked once more, the same
      // node (serfHealth stamp) must answer, or they may be from a leave that came meanwhile (a graceful
      // leave deregisters the node while its agent still answers).
      const confirmed = await this.check();
      if (confirmed.kind === "trusted") return { kind: "read-afresh" };
      this.doubt();
      return { kind: "not-trusted", problem: confirmed.kind === "not-member" ? confirmed.problem : "the local Consul agent's node left and came back while its services were read afresh", cause: this.cause };
    } catch (error) {
      this.doubt();
      return { kind: "not-trusted", problem: (error as Error).message, cause: error instanceof ConsulUntrusted ? `consul-${error.reason}` : "consul-agent-not-member" };
    }
  }
}
