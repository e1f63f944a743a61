// `run`'s watches, one per configured service, seen as one view of Consul:
// whether every answer is trusted, the desired state of the services a
// reconcile covers, and when the oldest change not yet applied was seen;
// and, through a MembershipGate, whether the local agent those answers come
// from is a live member of its cluster (a watch that fails puts it in doubt).
import type { Logger } from "../log.js";
import type { ServiceSelection } from "../planner/selection.js";
import { mergeDesired, type DesiredState } from "./desired.js";
import type { ServiceSnapshot } from "./consul-source.js";
import { ServiceWatch, type ServiceReader, type WatchListener } from "./service-watch.js";
import type { MembershipCheck } from "./agent-membership.js";
import { MembershipGate, type Admission } from "./membership-gate.js";

/** What the watches need of Consul (ConsulSource): the blocking reads, and the fresh reads of a resync. */
export interface ServicesReader extends ServiceReader {
  readServices(selections: readonly ServiceSelection[]): Promise<ServiceSnapshot[]>;
  checkMembership(depth: "member" | "settled"): Promise<MembershipCheck>;
}

export class ServiceWatches {
  private readonly watches: Map<string, ServiceWatch>;
  private readonly gate: MembershipGate;

  constructor(
    private readonly selections: readonly ServiceSelection[],
    private readonly reader: ServicesReader,
    logger: Logger,
    waitSeconds: number,
    listener: WatchListener,
  ) {
    this.gate = new MembershipGate((depth) => reader.checkMembership(depth), logger);
    const watchListener: WatchListener = {
      ...listener,
      failed: (key, cause) => {
        this.gate.doubt();
        listener.failed(key, cause);
      },
    };
    this.watches = new Map(selections.map((selection) => new ServiceWatch(selection, reader, logger, waitSeconds, watchListener)).map((watch) => [watch.key, watch]));
  }

  /** Whether the answers in hand may be acted on as far as the local agent goes (MembershipGate.admit; a rejoined agent: every service read afresh). */
  admit(): Promise<Admission> {
    return this.gate.admit(() => this.resync());
  }

  /** Why the local agent is not trusted now, for /healthz; undefined while it is. */
  membershipProblem(): string | undefined {
    return this.gate.problem;
  }

  /** Starts every watch's blocking-query loop, until `signal` aborts. */
  start(signal: AbortSignal): void {
    for (const watch of this.watches.values()) void watch.run(signal);
  }

  /** The first problem of any service's answer, if one is in doubt. */
  problem(): string | undefined {
    return [...this.watches.values()].find((watch) => watch.problem !== undefined)?.problem;
  }

  /** Why a reconcile must not run now (an answer in doubt, or one not there yet); undefined: every answer is trusted. */
  notTrusted(): string | undefined {
    const problem = this.problem();
    if (problem !== undefined) return problem;
    return [...this.watches.values()].some((watch) => watch.desired === undefined) ? "waiting for the first Consul answer" : undefined;
  }

  /** The desired state of these services (selection keys), or of every service. Call only when notTrusted() is undefined. */
  desired(services: "all" | ReadonlySet<string>): DesiredState {
    const covered = [...this.watches.values()].filter((watch) => services === "all" || services.has(watch.key));
    return mergeDesired(covered.map((watch) => watch.desired as DesiredState));
  }

  /** When the oldest change not yet applied was seen (any service); every watch starts counting afresh. */
  takeEarliestChange(): bigint | undefined {
    const seen = [...this.watches.values()].map((watch) => watch.takeChangedAt());
    return seen.reduce<bigint | undefined>((earliest, at) => (at !== undefined && (earliest === undefined || at < earliest) ? at : earliest), undefined);
  }

  /** A resync: fresh (non-blocking) reads of every service, each given to its watch. Throws ConsulUntrusted (nothing refreshed). */
  async resync(): Promise<void> {
    const snapshots = await this.reader.readServices(this.selections);
    for (const snapshot of snapshots) this.watches.get(snapshot.key)?.refresh(snapshot);
  }
}
