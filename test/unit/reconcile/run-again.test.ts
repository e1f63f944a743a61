import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runAgainIn } from "../../../handler/reconcile/run-again.js";

describe("when a reconcile asks for the next one", () => {
  const now = 1_000_000;
  test("nothing pending: no run until something changes", () => {
    assert.equal(runAgainIn({ draining: 0, refusedCommands: 0, holdsReleaseAt: [] }, 30, now), undefined);
  });
  test("draining slots: every second, or every drainSeconds when shorter (at least 1 s)", () => {
    assert.equal(runAgainIn({ draining: 2, refusedCommands: 0, holdsReleaseAt: [] }, 30, now), 1000);
    assert.equal(runAgainIn({ draining: 2, refusedCommands: 0, holdsReleaseAt: [] }, 0, now), 1000);
  });
  test("a refused command: retry after 1 s", () => {
    assert.equal(runAgainIn({ draining: 0, refusedCommands: 1, holdsReleaseAt: [] }, 30, now), 1000);
  });
  test("a held mass removal: at its release (just after), at most 5 s away, at least 50 ms", () => {
    assert.equal(runAgainIn({ draining: 0, refusedCommands: 0, holdsReleaseAt: [now + 2000, now + 3000] }, 30, now), 2050);
    assert.equal(runAgainIn({ draining: 0, refusedCommands: 0, holdsReleaseAt: [now + 60_000] }, 30, now), 5000);
    assert.equal(runAgainIn({ draining: 0, refusedCommands: 0, holdsReleaseAt: [now - 10_000] }, 30, now), 50);
  });
  test("several reasons: the earliest wins", () => {
    assert.equal(runAgainIn({ draining: 1, refusedCommands: 0, holdsReleaseAt: [now + 200] }, 30, now), 250);
  });
});
