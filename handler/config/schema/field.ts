// The building blocks of the config tables: a Field is one key (its check,
// its default, its one-line doc), a Table is a section's fields in the order
// the docs list them, and readTable reads a YAML mapping with one.
// Problems are collected, not thrown, so one run shows them all.
import { describeRange } from "../../haproxy-runtime-api/index.js";
import { closestWord } from "../did-you-mean.js";

export type Raw = Record<string, unknown>;

export function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value as an error message shows it. */
export function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isRecord(value)) return "a mapping";
  return JSON.stringify(value);
}

export interface Field<T> {
  /** One line: what the key means (README and the types' JSDoc agree with it, see test/unit/config/tables.test.ts). */
  readonly doc: string;
  /** Checks a value that is there: returns it, or pushes a problem (starting with the path) and returns undefined. */
  readonly check: (value: unknown, path: string, problems: string[], siblings: Raw) => T | undefined;
  /** The value when the key is left out (or its value is invalid). */
  readonly default?: T;
  /** A default the reader does not fill in, in words (it comes from the environment, or from a sibling key). */
  readonly defaultText?: string;
  /** The key must be there: what is expected, for the "missing" problem. */
  readonly required?: string;
  /** Computes the value of a left-out key from the keys read before it (a section's defaults); may push a problem. */
  readonly whenAbsent?: (siblings: Raw, path: string, problems: string[]) => T | undefined;
  /** `key:` with no value (YAML null) is a value to check, not a left-out key. */
  readonly nullIsValue?: boolean;
  /** A mapping (or a list of mappings) read with its own table: for the docs and their tests. */
  readonly nested?: { readonly table: Table<unknown>; readonly list: boolean };
}

/** One field per key of T, in the order the docs list them. */
export type Table<T> = { readonly [K in keyof T]-?: Field<Exclude<T[K], undefined>> };

/** A table's keys as a list (its declaration order). */
export function tableKeys<T>(table: Table<T>): string[] {
  return Object.keys(table);
}

/** The keys a table requires. */
export function requiredKeys<T>(table: Table<T>): string[] {
  const fields = table as Readonly<Record<string, Field<unknown>>>;
  return Object.keys(fields).filter((key) => fields[key]?.required !== undefined);
}

/**
 * Reads `raw` with `table`: unknown keys are named (with the closest known
 * one), each field is checked, left-out keys get their default. `path` is
 * the section's path ("" at the top level). `defaults` overrides the table's
 * defaults (powDefaults falls back to the service's defaults).
 * The result is complete only when no problem was pushed: validateConfig
 * throws in that case, so the cast below never reaches a caller.
 */
export function readTable<T>(table: Table<T>, raw: Raw, path: string, problems: string[], defaults: Partial<T> = {}): T {
  const keys = tableKeys(table);
  for (const key of Object.keys(raw)) {
    if (keys.includes(key)) continue;
    const close = closestWord(key, keys);
    problems.push(`${path || "(top level)"}.${key}: unknown key; expected one of ${keys.join(", ")}${close ? `; did you mean ${close}?` : ""}`);
  }
  const result: Raw = {};
  const fields = table as Readonly<Record<string, Field<unknown>>>;
  const overrides = defaults as Raw;
  for (const key of keys) {
    const field = fields[key];
    if (!field) continue;
    const keyPath = path ? `${path}.${key}` : key;
    const value = raw[key];
    const fallback = key in overrides ? overrides[key] : field.default;
    let read: unknown;
    if (value === undefined || (value === null && !field.nullIsValue)) {
      if (field.required !== undefined) problems.push(`${keyPath}: missing; expected ${field.required}`);
      read = field.whenAbsent ? field.whenAbsent(result, keyPath, problems) : fallback;
    } else {
      read = field.check(value, keyPath, problems, result) ?? fallback;
    }
    if (read !== undefined) result[key] = read;
  }
  return result as T;
}

interface Described<T> {
  doc: string;
  default?: T;
  defaultText?: string;
}

export function integer(min: number, max: number, described: Described<number>): Field<number> {
  return {
    ...described,
    check: (value, path, problems) => {
      if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
      problems.push(`${path}: expected ${describeRange({ min, max })}, got ${describe(value)}`);
      return undefined;
    },
  };
}

/** A fraction from 0 to 1 (YAML number). */
export function fraction(described: Described<number>): Field<number> {
  return {
    ...described,
    check: (value, path, problems) => {
      if (typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= 1) return value;
      problems.push(`${path}: expected a fraction from 0 to 1 (0.5 = half), got ${describe(value)}`);
      return undefined;
    },
  };
}

export function boolean(described: Described<boolean>): Field<boolean> {
  return {
    ...described,
    check: (value, path, problems) => {
      if (typeof value === "boolean") return value;
      problems.push(`${path}: expected true or false, got ${describe(value)}`);
      return undefined;
    },
  };
}

export function oneOf<T extends string>(words: readonly T[], described: Described<T>): Field<T> {
  return {
    ...described,
    check: (value, path, problems) => {
      if (typeof value === "string" && (words as readonly string[]).includes(value)) return value as T;
      problems.push(`${path}: expected one of ${words.join(", ")}, got ${describe(value)}`);
      return undefined;
    },
  };
}

/**
 * A non-empty string, optionally of a form (`valid`: a pattern or a test);
 * `hint` says what is expected in every problem, `required` makes it a must.
 */
export function text(options: Described<string> & { hint?: string; valid?: RegExp | ((text: string) => boolean); required?: boolean }): Field<string> {
  const { hint, valid, required, ...described } = options;
  const passes = (value: string): boolean => (valid === undefined ? true : typeof valid === "function" ? valid(value) : valid.test(value));
  const field: Field<string> = {
    ...described,
    check: (value, path, problems) => {
      if (typeof value !== "string" || value.length === 0) {
        problems.push(`${path}: expected ${hint ?? "a non-empty string"}, got ${describe(value)}`);
        return undefined;
      }
      if (!passes(value)) {
        problems.push(`${path}: ${JSON.stringify(value)} is not valid; expected ${hint ?? String(valid)}`);
        return undefined;
      }
      return value;
    },
  };
  return required ? { ...field, required: hint ?? "a string" } : field;
}

/** What a section does after its keys are read: the checks that span keys. */
export type CrossCheck<T> = (value: T, path: string, problems: string[]) => void;

/**
 * A nested mapping read with its own table. `absent`: "defaults" = a
 * left-out section reads as all its defaults; "unset" = it stays unset
 * (optional sections, such as versioning, are off when left out);
 * "required" = it must be there.
 */
export function section<T>(table: Table<T>, options: { doc: string; absent: "defaults" | "unset" | "required"; crossCheck?: CrossCheck<T>; defaultText?: string }): Field<T> {
  const read = (raw: Raw, path: string, problems: string[]): T => {
    const value = readTable(table, raw, path, problems);
    options.crossCheck?.(value, path, problems);
    return value;
  };
  const field: Field<T> = {
    doc: options.doc,
    nested: { table: table as Table<unknown>, list: false },
    check: (value, path, problems) => {
      if (isRecord(value)) return read(value, path, problems);
      problems.push(`${path}: expected a mapping, got ${describe(value)}`);
      return options.absent === "unset" ? undefined : read({}, path, problems);
    },
    ...(options.defaultText !== undefined ? { defaultText: options.defaultText } : {}),
  };
  if (options.absent === "unset") return field;
  return { ...field, ...(options.absent === "required" ? { required: "a mapping" } : {}), whenAbsent: (_siblings, path, problems) => read({}, path, problems) };
}

/** A list of mappings, each read with `table`; `expected` names what an item must be. */
export function listOf<T>(table: Table<T>, options: { doc: string; expected: string; crossCheck?: CrossCheck<T> }): Field<T[]> {
  return {
    doc: options.doc,
    nested: { table: table as Table<unknown>, list: true },
    check: (value, path, problems) => {
      if (!Array.isArray(value)) {
        problems.push(`${path}: expected a list, got ${describe(value)}`);
        return undefined;
      }
      const items: T[] = [];
      value.forEach((item: unknown, index: number) => {
        const itemPath = `${path}[${index}]`;
        if (!isRecord(item)) {
          problems.push(`${itemPath}: expected ${options.expected}, got ${describe(item)}`);
          return;
        }
        const read = readTable(table, item, itemPath, problems);
        options.crossCheck?.(read, itemPath, problems);
        // An item without a required key cannot be used; one with another bad key still takes part in the cross-checks.
        if (requiredKeys(table).every((key) => (read as Raw)[key] !== undefined)) items.push(read);
      });
      return items;
    },
  };
}

/** Every key of a table and of its nested tables, as `section.key` paths (a list's items as `key[].item`). */
export function flattenTable(table: Table<unknown>, prefix = ""): { path: string; field: Field<unknown> }[] {
  const fields = table as Readonly<Record<string, Field<unknown>>>;
  return Object.entries(fields).flatMap(([key, field]) => {
    const path = `${prefix}${key}`;
    const nested = field.nested ? flattenTable(field.nested.table, `${path}${field.nested.list ? "[]" : ""}.`) : [];
    return [{ path, field }, ...nested];
  });
}
