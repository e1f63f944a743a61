// The small JSON files the handler keeps beside its lock file (the guard's
// memory, the slots a hold keeps), shared by `run`, `sync` and `watch`.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";

/** The file's JSON, undefined when it is missing or unreadable (the caller then starts with nothing kept). */
export function loadStateFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

/** Writes `value` as JSON atomically (temporary file + rename); `undefined`: nothing to keep, no file. */
export function saveStateFile(path: string, value: unknown): void {
  if (value === undefined) {
    try {
      unlinkSync(path);
    } catch {
      // nothing was kept before either
    }
    return;
  }
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}
