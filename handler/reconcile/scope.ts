// What the next reconcile of `run` covers: the services (selection keys)
// that changed since the last one, or every backend (at start, after a
// failure, a resync, a restart of HAProxy, a retry).
import type { SlotCache } from "../haproxy-state/cache.js";
import type { DesiredState } from "../source/desired.js";
import type { HandlerContext } from "./context.js";
import { withLock } from "./lock.js";
import { reconcileWith, type ReconcileOutcome } from "./reconcile.js";

export type ReconcileScope = "all" | ReadonlySet<string>;

export class PendingScope {
  private pending: Set<string> | "all" = "all";

  /** A change to one service: its backends are planned at the next reconcile. */
  service(key: string): void {
    if (this.pending !== "all") this.pending.add(key);
  }

  /** Every backend is planned at the next reconcile. */
  all(): void {
    this.pending = "all";
  }

  /** What the next reconcile covers, and nothing is pending after it; undefined: a reconcile before already covered it all. */
  take(): ReconcileScope | undefined {
    const scope = this.pending;
    this.pending = new Set();
    if (scope !== "all" && scope.size === 0) return undefined;
    return scope;
  }
}

/** `run`'s reconcile of a scope: under the inter-process lock, on `run`'s cache of HAProxy's slots. */
export function reconcileScope(context: HandlerContext, desired: DesiredState, scope: ReconcileScope, cache: SlotCache): Promise<ReconcileOutcome> {
  const options = { state: cache, ...(scope === "all" ? {} : { services: scope }) };
  return withLock(context.config.lockFile, () => reconcileWith(context, desired, options));
}
