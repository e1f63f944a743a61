// `run`'s watch of the load balancer's portmap (lb.kvPrefix): a loop of
// blocking reads of the KV folder, each answer judged by the portmap parser.
// A valid portmap is handed on; one that does not parse, or a read that
// cannot be trusted, is reported as a problem and handed on as nothing, so
// the controller keeps the portmap it applied (fail static). The loop
// retries with the service watches' backoff, and stops when its signal aborts.
import type { Logger } from "../log.js";
import type { LoadBalancerSpec, ReservedPorts } from "../portmap/spec.js";
import type { ConsulKv } from "./consul-kv.js";
import { judgePortmap, readPortmapKv } from "./portmap-kv.js";
import { backoffDelay, nextIndex, systemClock, type WatchClock } from "./service-watch.js";

export interface PortmapWatchListener {
  /** A valid portmap was read: the first one, or one whose folder changed. */
  spec(spec: LoadBalancerSpec): void;
  /** Why the portmap read is in doubt, and which kind (not readable, or does not parse); undefined when that ended. */
  problem(problem: string | undefined, kind?: PortmapProblem): void;
}

export type PortmapProblem = "unreadable" | "invalid";

export interface PortmapWatchOptions {
  folder: string;
  reservedPorts: ReservedPorts;
  waitSeconds: number;
}

export class PortmapWatch {
  private reported: string | undefined;

  constructor(
    private readonly kv: ConsulKv,
    private readonly options: PortmapWatchOptions,
    private readonly logger: Logger,
    private readonly listener: PortmapWatchListener,
    private readonly clock: WatchClock = systemClock,
  ) {}

  /** Reads until `signal` aborts; nothing is handed on after that. */
  async run(signal: AbortSignal): Promise<void> {
    const { folder } = this.options;
    let index = 0;
    let failures = 0;
    while (!signal.aborted) {
      let read;
      try {
        read = await readPortmapKv(this.kv, folder, { index, waitMs: this.options.waitSeconds * 1000, signal });
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        this.doubt(`cannot read the portmap: ${(error as Error).message}`, "unreadable");
        await this.clock.sleep(backoffDelay(failures, this.clock.random), signal);
        continue;
      }
      failures = 0;
      if (signal.aborted) return;
      // A blocking read that ended with nothing changed.
      if (index !== 0 && read.index === index) continue;
      index = nextIndex(index, read.index);
      const verdict = judgePortmap(read.values, folder, this.options.reservedPorts);
      if (!verdict.ok) {
        this.doubt(`the portmap under ${folder} is not applied: ${verdict.error.key}: ${verdict.error.message}`, "invalid");
        continue;
      }
      if (this.reported !== undefined) this.logger.info("the portmap reads and parses again", { folder });
      this.reported = undefined;
      this.listener.problem(undefined);
      this.listener.spec(verdict.spec);
    }
  }

  /** Logged once per distinct problem (a retry every second must not flood the log). */
  private doubt(problem: string, kind: PortmapProblem): void {
    // Consul unreachable passes; a portmap that does not parse waits for the operator.
    if (problem !== this.reported) this.logger[kind === "unreadable" ? "warn" : "error"](`${problem}; keeping the portmap applied before`, { folder: this.options.folder });
    this.reported = problem;
    this.listener.problem(problem, kind);
  }
}
