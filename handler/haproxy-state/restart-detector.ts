// HAProxy restart detection from `show info`: a new Pid or a smaller uptime
// means the process was reloaded or restarted, and what the handler set over
// the runtime API (addresses, maxconn) must be applied again. Pure: the
// caller polls `show info` (every HAPROXY_POLL_MS, through poll()) and feeds
// each answer (or its failure) here.
import type { ProcessInfo } from "../haproxy-runtime-api/index.js";

/**
 * How often `show info` asks HAProxy who it is. A restarted HAProxy starts
 * with empty template slots, and the poll is what notices it: every slot is
 * back about this long plus one full apply after the new process answers.
 * One `show info` costs well under a millisecond of CPU on either side.
 */
export const HAPROXY_POLL_MS = 200;

export type Observation =
  /** The first answer, or the same process as before. */
  | { kind: "same" }
  /** Another process answers: re-read HAProxy and re-apply everything. */
  | { kind: "restarted"; pid: number; previousPid: number }
  /** No answer, from a process that answered before (a restart follows when it is back). */
  | { kind: "lost" }
  /** No answer, and none yet since the start. */
  | { kind: "not-yet" };

interface Identity {
  pid: number;
  uptimeSeconds: number;
}

/** The Pid a lost HAProxy is remembered with: whatever answers next counts as a restart. */
const GONE = -1;

export class RestartDetector {
  private identity: Identity | undefined;

  observe(info: Pick<ProcessInfo, "pid" | "uptimeSeconds">): Observation {
    const previous = this.identity;
    this.identity = { pid: info.pid, uptimeSeconds: info.uptimeSeconds };
    if (previous && (previous.pid !== info.pid || info.uptimeSeconds < previous.uptimeSeconds)) return { kind: "restarted", pid: info.pid, previousPid: previous.pid };
    return { kind: "same" };
  }

  /** `show info` failed: HAProxy is down or restarting. */
  observeFailure(): Observation {
    if (!this.identity) return { kind: "not-yet" };
    this.identity = { pid: GONE, uptimeSeconds: 0 };
    return { kind: "lost" };
  }

  /** Asks HAProxy (`show info`) and observes the answer, or its failure. */
  async poll(haproxy: { showInfo(): Promise<Pick<ProcessInfo, "pid" | "uptimeSeconds">> }): Promise<Observation> {
    let info: Pick<ProcessInfo, "pid" | "uptimeSeconds">;
    try {
      info = await haproxy.showInfo();
    } catch {
      // HAProxy down: when it is back, its new Pid is a restart.
      return this.observeFailure();
    }
    return this.observe(info);
  }

  /** Forget the process (a config reload may point at another socket). */
  reset(): void {
    this.identity = undefined;
  }
}
