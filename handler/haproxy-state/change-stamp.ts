// A small file beside the lock file that every process rewrites after it
// sent commands to HAProxy (`run`, `sync`, `watch`, `promote`). `run` keeps a
// cached view of HAProxy: a stamp it did not write means another process
// changed HAProxy (say `sync --allow-mass-removal`), and the cache is read
// again. Read and written under the lock, like the guard's memory.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

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

/** Writes a new stamp and returns it. Throws when the file cannot be written. */
export function writeChangeStamp(lockFile: string): string {
  const stamp = `${process.pid} ${randomBytes(8).toString("hex")}\n`;
  writeFileSync(changeStampPath(lockFile), stamp, { mode: 0o644 });
  return stamp;
}
