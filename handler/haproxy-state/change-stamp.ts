// A small file beside the lock file that every process rewrites after it
// sent commands to HAProxy (`run`, `sync`, `watch`, `promote`). `run` keeps a
// cached view of HAProxy: a stamp it did not write means another process
// changed HAProxy (say `sync --allow-mass-removal`), and the cache is read
// again. Read and written under the lock, like the guard's memory.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";

export function changeStampPath(lockFile: string): string {
  return `${lockFile}.haproxy-changed`;
}

/** The stamp now; undefined when no process has written one. */
export function readChangeStamp(lockFile: string): string | undefined {
  try {
    return readFileSync(changeStampPath(lockFile), "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Writes a new stamp and returns it. Throws when the file cannot be written.
 * Written over the old one in place, not truncated first: every stamp has
 * the same length (the Pid padded), and ext4 flushes a file that was
 * truncated and written again when it is closed, which cost `run` most of a
 * millisecond after each change it applied (issue 20). A longer stamp left
 * by an older version is cut to length.
 */
export function writeChangeStamp(lockFile: string): string {
  const stamp = `${String(process.pid).padStart(10, "0")} ${randomBytes(8).toString("hex")}\n`;
  const descriptor = openSync(changeStampPath(lockFile), constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    writeSync(descriptor, stamp, 0);
    if (fstatSync(descriptor).size > stamp.length) ftruncateSync(descriptor, stamp.length);
  } finally {
    closeSync(descriptor);
  }
  return stamp;
}
