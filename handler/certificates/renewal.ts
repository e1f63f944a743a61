// When to order a certificate next (issue 18), as pure functions of what is
// served and what happened: the handler asks them, the tests prove them.
//
// Renewal: 30 days before expiry, or a third of the lifetime before it for a
// certificate shorter-lived than 90 days (Let's Encrypt's own advice; a
// six-day certificate renews two days ahead, not at once and forever).
// A failed order: retried after 1 minute, doubling to at most 6 hours, so a
// CA that keeps refusing sees a few orders a day, not a loop; CAs limit
// failed validations per name and hour (Let's Encrypt: 5).

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const RENEW_BEFORE_MS = 30 * DAY;
export const FIRST_RETRY_MS = MINUTE;
export const MAX_RETRY_MS = 6 * 60 * MINUTE;
/** No two orders for one certificate closer than this, whatever the certificates' dates say. */
export const MIN_ORDER_GAP_MS = MINUTE;

/** When a certificate valid from notBefore to notAfter is due for renewal. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  const lifetime = Math.max(0, notAfter.getTime() - notBefore.getTime());
  return new Date(notAfter.getTime() - Math.min(RENEW_BEFORE_MS, lifetime / 3));
}

/** The wait after the `failures`-th failed order in a row (1 minute, 2, 4, ... at most 6 hours). */
export function retryDelay(failures: number): number {
  if (failures < 1) return 0;
  // The exponent is capped so that 2 ** n stays finite however long a CA refuses.
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 30));
}

export interface RenewalState {
  /** The names the portmap asks for. */
  wanted: readonly string[];
  /** The certificate served now. */
  served: { names: readonly string[]; notBefore: Date; notAfter: Date; selfSigned: boolean };
  /** Failed orders in a row since the last success (0: none). */
  failures: number;
  /** When the last order (failed or not) ended; undefined before any. */
  lastOrderAt: Date | undefined;
}

export type NextOrderReason = "placeholder" | "names changed" | "renewal" | "retry";

export interface NextOrder {
  at: Date;
  reason: NextOrderReason;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

/**
 * When the next order is due, and why. A failure streak wins (its backoff
 * holds even for a placeholder); otherwise a placeholder or a changed list of
 * names is due now, a CA's certificate at its renewal time. Never sooner than
 * MIN_ORDER_GAP_MS after the last order.
 */
export function nextOrder(state: RenewalState, now: Date): NextOrder {
  const { served } = state;
  const planned: NextOrder =
    state.failures > 0 && state.lastOrderAt !== undefined
      ? { at: new Date(state.lastOrderAt.getTime() + retryDelay(state.failures)), reason: "retry" }
      : served.selfSigned
        ? { at: now, reason: "placeholder" }
        : !sameNames(served.names, state.wanted)
          ? { at: now, reason: "names changed" }
          : { at: renewalTime(served.notBefore, served.notAfter), reason: "renewal" };
  const earliest = state.lastOrderAt === undefined ? 0 : state.lastOrderAt.getTime() + MIN_ORDER_GAP_MS;
  return planned.at.getTime() < earliest ? { at: new Date(earliest), reason: planned.reason } : planned;
}

export function isDue(next: NextOrder, now: Date): boolean {
  return next.at.getTime() <= now.getTime();
}
