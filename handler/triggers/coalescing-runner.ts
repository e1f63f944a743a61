// Coalesces triggers: while one job runs, any number of triggers queue
// exactly one more run. So a burst of 1,000 registrations costs a handful of
// reconciles, and no trigger is ever lost (the waiting run starts after the
// running one and sees everything that happened meanwhile).
import PQueue from "p-queue";

export class CoalescingRunner {
  private readonly queue = new PQueue({ concurrency: 1 });
  private pending = false;

  constructor(private readonly job: () => Promise<void>) {}

  trigger(): void {
    if (this.pending) return;
    this.pending = true;
    void this.queue.add(async () => {
      // Cleared before the job starts, so a trigger during the job queues one more.
      this.pending = false;
      await this.job();
    });
  }

  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }

  pause(): void {
    this.queue.pause();
  }

  resume(): void {
    this.queue.start();
  }

  clearWaiting(): void {
    this.queue.clear();
    this.pending = false;
  }
}
