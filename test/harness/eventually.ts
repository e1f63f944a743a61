// The one polling helper every test and harness uses instead of fixed sleeps:
// observe until the condition holds, or fail with the last observation after
// a generous deadline.

export interface EventuallyOptions {
  /** Pause between observations. @default 50 (start-up waits use less, to start quickly) */
  intervalMs?: number;
  /**
   * Asked after every observation that did not pass: a reason here fails at
   * once instead of at the deadline (e.g. the process being waited for exited).
   */
  giveUpIf?: () => string | undefined;
}

/** Polls until the check passes; fails with the last observation. Generous deadline, no fixed sleeps. */
export function eventually<T, S extends T>(observe: () => Promise<T>, accept: (value: T) => value is S, what: string, timeoutMs?: number, options?: EventuallyOptions): Promise<S>;
export function eventually<T>(observe: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs?: number, options?: EventuallyOptions): Promise<T>;
export async function eventually<T>(observe: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 10_000, options: EventuallyOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await observe();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    const seen = `last seen: ${(JSON.stringify(last) ?? "nothing").slice(0, 1500)}${lastError ? `; last error: ${String(lastError)}` : ""}`;
    const reason = options.giveUpIf?.();
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}; ${seen}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${seen}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
