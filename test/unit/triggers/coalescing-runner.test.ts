import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoalescingRunner } from "../../../handler/triggers/coalescing-runner.js";

describe("coalescing runner", () => {
  test("many triggers -> one running and one waiting, none lost", async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let release: () => void = () => undefined;
    const runner = new CoalescingRunner(async () => {
      runs += 1;
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
      concurrent -= 1;
    });
    runner.trigger();
    await new Promise((resolve) => setImmediate(resolve));
    // The first run is in progress: 100 triggers now queue exactly one more.
    for (let i = 0; i < 100; i += 1) runner.trigger();
    release();
    await runner.idle();
    assert.equal(runs, 2);
    assert.equal(maxConcurrent, 1);
    // A trigger after everything settled runs again (nothing is lost).
    runner.trigger();
    await runner.idle();
    assert.equal(runs, 3);
  });

  test("paused: triggers wait; cleared: the waiting run is dropped, and a new trigger runs after resume", async () => {
    let runs = 0;
    const runner = new CoalescingRunner(() => {
      runs += 1;
      return Promise.resolve();
    });
    runner.pause();
    runner.trigger();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs, 0, "nothing runs while paused");
    runner.clearWaiting();
    runner.resume();
    await runner.idle();
    assert.equal(runs, 0, "the cleared run never happens");
    runner.trigger();
    await runner.idle();
    assert.equal(runs, 1, "pending was reset by clearWaiting: the next trigger is not swallowed");
  });
});
