// When the next order is due (handler/certificates/renewal.ts): the renewal
// rule, the backoff after failures, and that no state makes a tight loop.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FIRST_RETRY_MS, MAX_RETRY_MS, MIN_ORDER_GAP_MS, isDue, nextOrder, renewalTime, retryDelay, type RenewalState } from "../../../handler/certificates/renewal.js";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const t0 = new Date("2030-01-01T00:00:00Z");
const at = (ms: number): Date => new Date(t0.getTime() + ms);

describe("renewalTime: 30 days before expiry, a third of the lifetime for short-lived certificates", () => {
  test("90 days (Let's Encrypt): 30 days before, i.e. after 60", () => {
    assert.equal(renewalTime(t0, at(90 * DAY)).toISOString(), at(60 * DAY).toISOString());
  });
  test("a year: 30 days before expiry, not a third", () => {
    assert.equal(renewalTime(t0, at(365 * DAY)).toISOString(), at(335 * DAY).toISOString());
  });
  test("6 days: 2 days before expiry (a third), not at once", () => {
    assert.equal(renewalTime(t0, at(6 * DAY)).toISOString(), at(4 * DAY).toISOString());
  });
  test("30 days: 10 days before", () => {
    assert.equal(renewalTime(t0, at(30 * DAY)).toISOString(), at(20 * DAY).toISOString());
  });
  test("notAfter before notBefore (a broken certificate): due at its notAfter, not before it", () => {
    assert.equal(renewalTime(at(DAY), t0).toISOString(), t0.toISOString());
  });
});

describe("retryDelay: 1 minute doubling to 6 hours", () => {
  test("the sequence", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((failures) => retryDelay(failures) / MINUTE),
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 360],
    );
  });
  test("no failure, no wait; a thousand failures: 6 hours, finite", () => {
    assert.equal(retryDelay(0), 0);
    assert.equal(retryDelay(1000), MAX_RETRY_MS);
    assert.equal(FIRST_RETRY_MS, MINUTE);
  });
});

const issued = { names: ["a.test", "b.test"], notBefore: t0, notAfter: at(90 * DAY), selfSigned: false };

describe("nextOrder", () => {
  test("a placeholder before any order: due now", () => {
    const next = nextOrder({ wanted: ["a.test"], served: { ...issued, names: ["a.test"], selfSigned: true }, failures: 0, lastOrderAt: undefined }, at(5 * DAY));
    assert.deepEqual(next, { at: at(5 * DAY), reason: "placeholder" });
    assert.ok(isDue(next, at(5 * DAY)));
  });

  test("a CA's certificate for the wanted names: due at its renewal time, not before", () => {
    const state: RenewalState = { wanted: ["b.test", "a.test"], served: issued, failures: 0, lastOrderAt: t0 };
    const next = nextOrder(state, at(DAY));
    assert.deepEqual(next, { at: at(60 * DAY), reason: "renewal" });
    assert.equal(isDue(next, at(60 * DAY - 1)), false);
    assert.equal(isDue(next, at(60 * DAY)), true);
  });

  test("a name added to certificate_name: due now (after the minimum gap)", () => {
    const next = nextOrder({ wanted: ["a.test", "b.test", "c.test"], served: issued, failures: 0, lastOrderAt: t0 }, at(DAY));
    assert.deepEqual(next, { at: at(DAY), reason: "names changed" });
  });

  test("after failures the backoff holds, even for a placeholder", () => {
    const placeholder = { ...issued, selfSigned: true };
    for (const [failures, minutes] of [[1, 1], [2, 2], [3, 4], [12, 360]] as const) {
      const next = nextOrder({ wanted: issued.names, served: placeholder, failures, lastOrderAt: t0 }, t0);
      assert.deepEqual(next, { at: at(minutes * MINUTE), reason: "retry" }, `${failures} failures`);
      assert.equal(isDue(next, at(minutes * MINUTE - 1)), false);
    }
  });

  test("a certificate past its renewal time right after an order (a very short lifetime): not before the minimum gap", () => {
    const short = { ...issued, notBefore: t0, notAfter: at(30_000) };
    assert.deepEqual(nextOrder({ wanted: issued.names, served: short, failures: 0, lastOrderAt: t0 }, t0), { at: at(MIN_ORDER_GAP_MS), reason: "renewal" });
  });

  test("property: never an order due sooner than a minute after the last, whatever is served", () => {
    fc.assert(
      fc.property(
        fc.record({
          selfSigned: fc.boolean(),
          lifetime: fc.integer({ min: -DAY, max: 400 * DAY }),
          start: fc.integer({ min: -400 * DAY, max: 400 * DAY }),
          failures: fc.nat(64),
          since: fc.integer({ min: 0, max: 10 * DAY }),
          changed: fc.boolean(),
        }),
        ({ selfSigned, lifetime, start, failures, since, changed }) => {
          const lastOrderAt = t0;
          const served = { names: ["a.test"], notBefore: at(start), notAfter: at(start + lifetime), selfSigned };
          const next = nextOrder({ wanted: changed ? ["a.test", "b.test"] : ["a.test"], served, failures, lastOrderAt }, at(since));
          assert.ok(next.at.getTime() >= lastOrderAt.getTime() + MIN_ORDER_GAP_MS, JSON.stringify(next));
          if (failures > 0) assert.ok(next.at.getTime() >= lastOrderAt.getTime() + retryDelay(failures));
        },
      ),
    );
  });
});
