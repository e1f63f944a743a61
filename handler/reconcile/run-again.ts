// When a reconcile's outcome asks for the next one, whatever Consul does
// meanwhile: slots still draining are checked again soon (they are freed once
// their sessions end), refused commands are retried, and a held mass removal
// is looked at again when its hold may be over.

/** Draining slots are checked this often (or every drainSeconds when that is shorter). */
export const DRAIN_RECHECK_MS = 1000;
/** While a mass removal is held, at least this often: `sync --allow-mass-removal` may have lifted it. */
export const HOLD_RECHECK_MS = 5000;
/** After an error (a refused command, HAProxy or Consul KV not answering). */
export const RETRY_AFTER_ERROR_MS = 1000;

export interface OutcomeFacts {
  /** Slots still draining after the plan. */
  draining: number;
  refusedCommands: number;
  /** When each held mass removal releases by itself (ms since the epoch). */
  holdsReleaseAt: readonly number[];
}

/** Milliseconds until the next reconcile this outcome needs; undefined: none until something changes. */
export function runAgainIn(facts: OutcomeFacts, drainSeconds: number, now: number): number | undefined {
  const delays: number[] = [];
  if (facts.refusedCommands > 0) delays.push(RETRY_AFTER_ERROR_MS);
  if (facts.draining > 0) delays.push(Math.min(DRAIN_RECHECK_MS, Math.max(1, drainSeconds) * 1000));
  if (facts.holdsReleaseAt.length > 0) delays.push(Math.max(50, Math.min(HOLD_RECHECK_MS, Math.min(...facts.holdsReleaseAt) - now + 50)));
  return delays.length > 0 ? Math.min(...delays) : undefined;
}
