import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
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

  test("written in place: a longer stamp an older version left is cut to ours, a shorter one overwritten; created 0644", () => {
    const folder = mkdtempSync(join(tmpdir(), "chh-stamp-"));
    try {
      const lockFile = join(folder, "handler.lock");
      writeChangeStamp(lockFile);
      assert.equal((statSync(changeStampPath(lockFile)).mode & 0o777).toString(8), "644");
      writeFileSync(changeStampPath(lockFile), `${"9".repeat(80)}\n`);
      const afterLonger = writeChangeStamp(lockFile);
      assert.equal(readChangeStamp(lockFile), afterLonger, "no tail of the longer stamp left");
      writeFileSync(changeStampPath(lockFile), "1 ab\n");
      const afterShorter = writeChangeStamp(lockFile);
      assert.equal(readChangeStamp(lockFile), afterShorter);
      assert.match(afterShorter, /^\d{10} [0-9a-f]{16}\n$/, "one length for every process: the Pid padded");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("an unwritable place throws (the caller logs it)", () => {
    assert.throws(() => writeChangeStamp("/proc/no-such-folder/handler.lock"));
  });
});
