// Reading the config file: YAML, then the tables (schema/), so every problem
// names its key and what is expected and an operator can fix the file
// without reading code.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./config-error.js";
import { describe, isRecord, readTable, type Raw } from "./schema/field.js";
import { topLevelTable } from "./schema/top-level.js";
import type { HandlerConfig } from "./types.js";

export const DEFAULT_CONFIG_PATH = "/etc/consul-haproxy-handler/config.yml";

/** Validates a parsed YAML document; throws ConfigError listing every problem. */
export function validateConfig(document: unknown, file: string): HandlerConfig {
  const problems: string[] = [];
  const root: Raw = isRecord(document) ? document : {};
  if (!isRecord(document)) problems.push(`(top level): expected a mapping with consul, haproxy and services, got ${describe(document)}`);
  const config = readTable(topLevelTable, root, "", problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

export function loadConfig(file: string): HandlerConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)}); pass --config <file> or create ${DEFAULT_CONFIG_PATH}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, [`not valid YAML: ${(error as Error).message}`]);
  }
  return validateConfig(document, file);
}
