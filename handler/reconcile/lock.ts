// An inter-process lock, so concurrent `watch` runs (Consul starts one per
// event, and two watches can fire at once) reconcile one after another. A
// lock file created with O_EXCL holds the owner's PID; a lock whose owner is
// gone is taken over, so a crashed run cannot block the next ones forever.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export class LockTimeout extends Error {}

function ownerIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function cannotCreate(path: string, code: string): Error {
  return new Error(`cannot create the lock file ${path} (${code}); check lockFile in the config: it must be a file in a writable folder on a normal file system (e.g. /run/lock/consul-haproxy-handler.lock)`);
}

/**
 * Creates the lock file's missing folders one by one. Not mkdirSync's
 * `recursive`: under /proc it retries ENOENT forever (the process hangs).
 */
function makeFolders(path: string, folder: string): void {
  const missing: string[] = [];
  for (let current = folder; !existsSync(current); current = dirname(current)) {
    missing.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const each of missing) {
    try {
      mkdirSync(each);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      if (code !== "EEXIST") throw cannotCreate(path, code);
    }
  }
}

/** Creates the lock file; false when another process holds it. `folderMade`: the folder was just created. */
function tryCreate(path: string, folderMade = false): boolean {
  try {
    const descriptor = openSync(path, "wx", 0o644);
    writeSync(descriptor, `${process.pid}\n`);
    closeSync(descriptor);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code === "EEXIST") return false;
    // First run: create the folder, then try once more. Only once: where the
    // folder exists but no file can be created in it (under /proc, say),
    // ENOENT comes back and retrying would never end.
    if (code === "ENOENT" && !folderMade) {
      makeFolders(path, dirname(path));
      return tryCreate(path, true);
    }
    throw cannotCreate(path, code);
  }
}

function removeIfStale(path: string): void {
  let owner: number;
  try {
    owner = Number.parseInt(readFileSync(path, "utf8"), 10);
  } catch {
    return; // released meanwhile
  }
  // A file without a PID yet may be mid-write by its creator: leave it.
  if (!Number.isInteger(owner) || owner <= 0 || ownerIsAlive(owner)) return;
  try {
    unlinkSync(path);
  } catch {
    // someone else removed it first
  }
}

export interface HeldLock {
  release(): void;
}

export async function acquireLock(path: string, timeoutMs = 60_000): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    if (tryCreate(path)) {
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    }
    removeIfStale(path);
    if (Date.now() > deadline) throw new LockTimeout(`another handler run has held ${path} for over ${timeoutMs / 1000} s; check for a hung consul-haproxy-handler process`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 50);
  }
}

export async function withLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(path);
  try {
    return await work();
  } finally {
    lock.release();
  }
}
