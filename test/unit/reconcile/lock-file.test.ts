// A lock file that can never be created is a clear error, not a stack overflow.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireLock, withLock } from "../../../handler/reconcile/lock.js";

describe("lock file", () => {
  test("under /proc (the folder exists, no file can be made): one clear error", async () => {
    await assert.rejects(acquireLock("/proc/consul-haproxy-handler-test.lock", 1000), (error: Error) => {
      assert.doesNotMatch(error.message, /Maximum call stack/);
      assert.match(error.message, /^cannot create the lock file \/proc\/consul-haproxy-handler-test\.lock \(ENOENT\); check lockFile in the config/);
      return true;
    });
  });

  test("a folder that cannot be created: the same clear error", async () => {
    await assert.rejects(acquireLock("/proc/no-such-folder/sub/handler.lock", 1000), /^Error: cannot create the lock file \/proc\/no-such-folder\/sub\/handler\.lock \(E[A-Z]+\)/);
  });

  test("a missing folder is still created on first use", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "cht-lock-")), "new", "folder", "handler.lock");
    const result = await withLock(path, () => Promise.resolve(existsSync(path)));
    assert.equal(result, true);
    assert.equal(existsSync(path), false, "released");
  });
});
