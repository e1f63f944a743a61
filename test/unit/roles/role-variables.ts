// Every variable of a role, read from the two files that define it: its
// default from defaults/main.yml (the only place a default is written) and its
// type, choices and meaning from meta/argument_specs.yml. Renders the
// variables table of the role's README.md, between the markers below; the
// test (role-readmes.test.ts) fails when a README's table is not this
// rendering, and `npm run roles:readme` rewrites the tables.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const TABLE_BEGIN = "<!-- BEGIN role variables: generated from defaults/main.yml and meta/argument_specs.yml by `npm run roles:readme`; edit those files, not this table -->";
export const TABLE_END = "<!-- END role variables -->";

export interface RoleVariable {
  name: string;
  /** Present when defaults/main.yml sets the variable. */
  hasDefault: boolean;
  defaultValue: unknown;
  /** Present when meta/argument_specs.yml declares the variable. */
  spec: ArgumentSpecOption | undefined;
}

export interface ArgumentSpecOption {
  type?: string;
  elements?: string;
  choices?: unknown[];
  description?: string | string[];
  default?: unknown;
}

export interface Role {
  name: string;
  directory: string;
  defaults: Record<string, unknown>;
  options: Record<string, ArgumentSpecOption>;
}

/** The repository root, found upwards from this file (it also runs from dist/test/...). */
export function repositoryRoot(): string {
  for (let directory = dirname(fileURLToPath(import.meta.url)); directory !== dirname(directory); directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json")) && existsSync(join(directory, "roles"))) return directory;
  }
  throw new Error("no repository root (package.json beside roles/) above this file");
}

function readYamlMapping(path: string): Record<string, unknown> {
  const value: unknown = parse(readFileSync(path, "utf8"));
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new Error(`${path}: expected a mapping at the top`);
  return value as Record<string, unknown>;
}

export function readRole(root: string, name: string): Role {
  const directory = join(root, "roles", name);
  const defaults = readYamlMapping(join(directory, "defaults", "main.yml"));
  const specs = readYamlMapping(join(directory, "meta", "argument_specs.yml"));
  const main = (specs["argument_specs"] as Record<string, { options?: Record<string, ArgumentSpecOption> }> | undefined)?.["main"];
  if (main === undefined) throw new Error(`roles/${name}/meta/argument_specs.yml has no argument_specs.main`);
  return { name, directory, defaults, options: main.options ?? {} };
}

export function roleNames(root: string): string[] {
  return readdirSync(join(root, "roles"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** defaults/main.yml's order first, then what only the argument specs name. */
export function roleVariables(role: Role): RoleVariable[] {
  const names = [...Object.keys(role.defaults), ...Object.keys(role.options).filter((name) => !(name in role.defaults))];
  return names.map((name) => ({ name, hasDefault: name in role.defaults, defaultValue: role.defaults[name], spec: role.options[name] }));
}

/** A table cell: one line, and `|` escaped (Jinja filters are full of them). */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|").trim();
}

function code(text: string): string {
  return "`" + text + "`";
}

function renderDefault(variable: RoleVariable): string {
  if (!variable.hasDefault) return "(none)";
  const value = variable.defaultValue;
  if (typeof value === "string") return code(value === "" ? '""' : value.trim());
  return code(JSON.stringify(value));
}

function renderType(spec: ArgumentSpecOption | undefined): string {
  if (spec === undefined) return "";
  let type = spec.type ?? "";
  if (spec.elements !== undefined) type += ` of ${spec.elements}`;
  if (spec.choices !== undefined) type += `: ${spec.choices.map((choice) => code(String(choice))).join(", ")}`;
  return type;
}

function renderDescription(spec: ArgumentSpecOption | undefined): string {
  if (spec?.description === undefined) return "";
  return Array.isArray(spec.description) ? spec.description.join(" ") : spec.description;
}

export function renderTable(role: Role): string {
  const rows = roleVariables(role).map((variable) =>
    `| ${[code(variable.name), renderDefault(variable), renderType(variable.spec), renderDescription(variable.spec)].map(cell).join(" | ")} |`,
  );
  return [TABLE_BEGIN, "| variable | default | type | description |", "| --- | --- | --- | --- |", ...rows, TABLE_END].join("\n");
}

/** The README's table between the markers, or undefined when a marker is missing. */
export function tableInReadme(readme: string): string | undefined {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) return undefined;
  return readme.slice(begin, end + TABLE_END.length);
}

export function readmePath(role: Role): string {
  return join(role.directory, "README.md");
}

/** Rewrites each role's table in place; a README without the markers gets it appended. */
export function writeReadmes(root: string): string[] {
  return roleNames(root).map((name) => {
    const role = readRole(root, name);
    const path = readmePath(role);
    const readme = existsSync(path) ? readFileSync(path, "utf8") : `# Role \`${name}\`\n\n## Variables\n\n`;
    const current = tableInReadme(readme);
    const table = renderTable(role);
    writeFileSync(path, current === undefined ? `${readme.trimEnd()}\n\n${table}\n` : readme.replace(current, () => table));
    return path;
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const path of writeReadmes(repositoryRoot())) console.log(`wrote the variables table of ${path}`);
}
