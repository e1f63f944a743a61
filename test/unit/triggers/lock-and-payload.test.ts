import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, withLock } from "../../../handler/reconcile/lock.js";
import { classifyPayload } from "../../../handler/triggers/watch.js";

describe("inter-process lock", () => {
  test("holders never overlap and every waiter gets its turn", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cht-lock-")), "lock");
    let inside = 0;
    let maxInside = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(path, async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await new Promise((resolve) => setTimeout(resolve, 5));
          inside -= 1;
          done += 1;
        }),
      ),
    );
    assert.equal(maxInside, 1);
    assert.equal(done, 10);
    assert.equal(existsSync(path), false, "released at the end");
  });

  test("a lock left by a dead process is taken over", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cht-lock-")), "lock");
    // PID 2^22+1 is above Linux's pid_max default range: no such process.
    writeFileSync(path, "4194305\n");
    const lock = await acquireLock(path, 2000);
    lock.release();
  });

  test("a live holder makes the waiter time out with advice", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cht-lock-")), "lock");
    const held = await acquireLock(path);
    await assert.rejects(acquireLock(path, 200), /held .* for over 0.2 s; check for a hung consul-haproxy-handler process/);
    held.release();
  });
});

describe("watch payload", () => {
  test("recognises the three watch types and an empty run", () => {
    assert.equal(classifyPayload(""), "empty");
    assert.equal(classifyPayload("[]"), "service");
    assert.equal(classifyPayload(JSON.stringify([{ Node: {}, Service: { ID: "a" }, Checks: [] }])), "service");
    assert.equal(classifyPayload(JSON.stringify([{ CheckID: "serfHealth", Status: "passing" }])), "checks");
    assert.equal(classifyPayload(JSON.stringify({ consul: [], iri: ["haproxy.pow=true"] })), "services");
  });

  test("refuses what no watch sends", () => {
    assert.throws(() => classifyPayload("not json"), /not JSON/);
    assert.throws(() => classifyPayload("[1,2]"), /neither health entries nor checks/);
    assert.throws(() => classifyPayload("42"), /neither a list nor a map/);
  });
});
