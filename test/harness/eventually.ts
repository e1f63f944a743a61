// The one polling helper every test uses instead of fixed sleeps: observe until
// the condition holds, or fail with the last observation after a generous deadline.

/** Polls until the check passes; fails with the last observation. Generous deadline, no fixed sleeps. */
export async function eventually<T>(observe: () => Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
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
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${(JSON.stringify(last) ?? "nothing").slice(0, 1500)}${lastError ? `; last error: ${String(lastError)}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
