import type { LogConfig } from "../types.js";
import { oneOf, type Table } from "./field.js";

export const logTable: Table<LogConfig> = {
  level: oneOf(["error", "warn", "info", "debug"] as const, { doc: "The least severe level logged.", default: "info" }),
};
