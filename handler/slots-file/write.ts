// Writes the slots file atomically (a temporary file in the same directory,
// then rename), so HAProxy, reloaded at any moment, reads either the old file
// or the new one, never half of one. Unchanged content is not rewritten.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** @returns true when the file was (re)written. */
export function writeFileAtomically(file: string, content: string): boolean {
  let current: string | undefined;
  try {
    current = readFileSync(file, "utf8");
  } catch {
    current = undefined;
  }
  if (current === content) return false;
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    // 0640: HAProxy reads it as root before dropping privileges.
    writeFileSync(temporary, content, { mode: 0o640 });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return true;
}
