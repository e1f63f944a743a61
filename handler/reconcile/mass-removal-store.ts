// Where the mass-removal guard keeps its memory between reconciles: a small
// JSON file beside the lock file. `run`, `sync` and every `watch` process
// share it (they all reconcile under that lock), so a hold started by one
// is released by whichever reconciles after the hold time, and `status`
// can show it.
import { loadStateFile, saveStateFile } from "./state-file.js";
import type { GuardMemory, RememberedHold } from "../planner/mass-removal.js";

export function guardMemoryPath(lockFile: string): string {
  return `${lockFile}.mass-removal.json`;
}

function isRemembered(value: unknown): value is RememberedHold {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate["signature"] === "string" && typeof candidate["since"] === "number" && Number.isFinite(candidate["since"]);
}

/** The remembered holds; a missing or unreadable file is an empty memory (a hold then starts over). */
export function loadGuardMemory(lockFile: string): GuardMemory {
  const parsed = loadStateFile(guardMemoryPath(lockFile));
  const memory: GuardMemory = {};
  if (typeof parsed === "object" && parsed !== null) {
    for (const [backend, hold] of Object.entries(parsed)) if (isRemembered(hold)) memory[backend] = hold;
  }
  return memory;
}

/** Writes the memory atomically; no holds, no file. */
export function saveGuardMemory(lockFile: string, memory: GuardMemory): void {
  saveStateFile(guardMemoryPath(lockFile), Object.keys(memory).length === 0 ? undefined : memory);
}
