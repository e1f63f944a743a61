// One timer for the next reconcile an outcome asked for (draining slots, a
// retry, a held mass removal): set to the earliest time asked, never later;
// nothing after close() (shutdown).

export class DueTimer {
  private due: { timer: NodeJS.Timeout; at: number } | undefined;
  private closed = false;

  constructor(private readonly fire: () => void) {}

  /** Fires in `ms` unless it is already due sooner. */
  runIn(ms: number): void {
    if (this.closed) return;
    const at = Date.now() + ms;
    if (this.due && this.due.at <= at) return;
    if (this.due) clearTimeout(this.due.timer);
    this.due = {
      at,
      timer: setTimeout(() => {
        this.due = undefined;
        this.fire();
      }, ms),
    };
  }

  cancel(): void {
    if (this.due) clearTimeout(this.due.timer);
    this.due = undefined;
  }

  /** Cancels, and fires no more (shutdown). */
  close(): void {
    this.closed = true;
    this.cancel();
  }
}
