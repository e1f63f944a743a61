// `run`'s trust in its local Consul agent: answers are acted on only while
// the agent is known to be a live member of its cluster (see
// source/agent-membership.ts), and only answers read after it was last seen
// joining. A watch that failed (the agent went away: restarted, say) puts
// that trust in doubt; the next reconcile asks the agent again, and once it
// is a member every service is read afresh before anything is planned, since
// the watches' answers may have been read while it was still rejoining.
import type { Logger } from "../log.js";
import type { MembershipCheck } from "./agent-membership.js";
import { ConsulUntrusted } from "./consul-untrusted.js";

/** While the agent is not a member it is asked this often, so that `run` converges within ~2 s of it rejoining. */
export const MEMBERSHIP_RECHECK_MS = 500;

/**
 * How long a rejoined agent may take to settle (its registrations back in
 * the catalog, every check run once), counted from the first answer after it
 * could last not be asked at all, before the gate settles for less: its
 * node alive (serfHealth passing), which stays required. A check that never
 * runs, or a script check that fails with no output, reads as "not run yet"
 * for ever; without this bound `run` would leave HAProxy as it is for ever
 * after an agent restart. Anti-entropy and a check's first run take seconds.
 */
export const SETTLE_LIMIT_MS = 30_000;

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
  /** Since when a settled check has been asked for without success (undefined: not waiting). */
  private settlingSince: number | undefined;

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
    // In doubt, the agent may just have restarted: it must have settled too, for SETTLE_LIMIT_MS at most.
    const depth = this.depthToAsk();
    this.cause = "consul-agent-not-member";
    const verdict = await this.ask(depth).catch((error: unknown): MembershipCheck => {
      // The agent could not be asked (unreachable, no leader, a timeout): counted under that reason.
      if (error instanceof ConsulUntrusted) this.cause = `consul-${error.reason}`;
      // It is (re)starting: its settling begins again once it answers. Counted from the first doubt instead,
      // a few quick restarts used up the limit while it was down, and a rejoined agent whose registrations
      // were not back yet was believed: both nodes drained as gone (agent-restart.test.ts under CI load).
      this.settlingSince = undefined;
      return { kind: "not-member", problem: (error as Error).message };
    });
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
    if (depth === "member" && !this.trusted) {
      this.logger.warn("the local Consul agent did not settle within the limit; its answers are believed now that its node is alive", { limitMs: SETTLE_LIMIT_MS, detail: this.problem });
    }
    this.settlingSince = undefined;
    if (this.problem !== undefined) this.logger.info("the local Consul agent is a live member of its cluster again; reading every service afresh", verdict.kind === "member" ? { node: verdict.node } : {});
    this.problem = undefined;
    if (this.trusted) return { kind: "trusted" };
    this.trusted = true;
    return { kind: "rejoined" };
  }

  /** `member` while trusted, or once a rejoined agent has failed to settle for SETTLE_LIMIT_MS; else `settled`. */
  private depthToAsk(): "member" | "settled" {
    if (this.trusted) return "member";
    const now = this.now();
    this.settlingSince ??= now;
    return now - this.settlingSince >= SETTLE_LIMIT_MS ? "member" : "settled";
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
      return { kind: "read-afresh" };
    } catch (error) {
      this.doubt();
      return { kind: "not-trusted", problem: (error as Error).message, cause: error instanceof ConsulUntrusted ? `consul-${error.reason}` : "consul-agent-not-member" };
    }
  }
}
