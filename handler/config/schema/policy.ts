import type { PolicyConfig } from "../types.js";
import { fraction, integer, oneOf, type Table } from "./field.js";

export const policyTable: Table<PolicyConfig> = {
  warningAs: oneOf(["ready", "drain"] as const, { doc: "A node whose checks warn serves (`ready`) or drains (`drain`).", default: "ready" }),
  drainSeconds: integer(0, 86_400, { doc: "How long a leaving node drains before its slot is freed.", default: 30 }),
  maxRemovalFraction: fraction({ doc: "Mass-removal guard: an answer may take at most this fraction of a backend's serving nodes out at once...", default: 0.5 }),
  massRemovalMinNodes: integer(1, 1_000_000, { doc: "...unless fewer than this many nodes would go.", default: 3 }),
  massRemovalHoldSeconds: integer(0, 86_400 * 7, { doc: "A held removal is applied once the same answer has stood this long.", default: 300 }),
};
