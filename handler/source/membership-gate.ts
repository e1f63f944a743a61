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

  constructor(
    private readonly ask: (depth: "member" | "settled") => Promise<MembershipCheck>,
    private readonly logger: Logger,
  ) {}

  /** A watch failed: the agent may have restarted, and its next answers may be read before it rejoins. */
  doubt(): void {
    this.trusted = false;
  }

  async check(): Promise<GateVerdict> {
    // In doubt, the agent may just have restarted: it must have settled too.
    const verdict = await this.ask(this.trusted ? "member" : "settled").catch((error: unknown): MembershipCheck => ({ kind: "not-member", problem: (error as Error).message }));
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
    if (this.problem !== undefined) this.logger.info("the local Consul agent is a live member of its cluster again; reading every service afresh", verdict.kind === "member" ? { node: verdict.node } : {});
    this.problem = undefined;
    if (this.trusted) return { kind: "trusted" };
    this.trusted = true;
    return { kind: "rejoined" };
  }

  /**
   * Whether the answers in hand may be acted on: `trusted`, or `read-afresh`
   * once `readAfresh` has given every watch a fresh answer (the agent just
   * (re)joined), or `not-trusted` with the failure cause for the metrics.
   */
  async admit(readAfresh: () => Promise<void>): Promise<Admission> {
    const verdict = await this.check();
    if (verdict.kind === "trusted") return { kind: "trusted" };
    if (verdict.kind === "not-member") return { kind: "not-trusted", problem: verdict.problem, cause: "consul-agent-not-member" };
    try {
      await readAfresh();
      return { kind: "read-afresh" };
    } catch (error) {
      this.doubt();
      return { kind: "not-trusted", problem: (error as Error).message, cause: error instanceof ConsulUntrusted ? `consul-${error.reason}` : "consul-agent-not-member" };
    }
  }
}
