import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changeStampPath, readChangeStamp, writeChangeStamp } from "../../../handler/haproxy-state/change-stamp.js";

describe("change stamp", () => {
  test("beside the lock file; none until written; each write is a new stamp that reads back", () => {
    const folder = mkdtempSync(join(tmpdir(), "chh-stamp-"));
    try {
      const lockFile = join(folder, "handler.lock");
      assert.equal(changeStampPath(lockFile), `${lockFile}.haproxy-changed`);
      assert.equal(readChangeStamp(lockFile), undefined);
      const first = writeChangeStamp(lockFile);
      assert.equal(readChangeStamp(lockFile), first);
      const second = writeChangeStamp(lockFile);
      assert.notEqual(second, first, "two writes by the same process differ");
      assert.equal(readChangeStamp(lockFile), second);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("an unwritable place throws (the caller logs it)", () => {
    assert.throws(() => writeChangeStamp("/proc/no-such-folder/handler.lock"));
  });
});
