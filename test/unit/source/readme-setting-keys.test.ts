// README's "Per-node settings" table is the operators' list of keys: it must
// name every key of handler/source/setting-keys.ts, no other, each with its
// Meta form and where it applies.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_SETTING_KEYS, SETTING_KEYS } from "../../../handler/source/setting-keys.js";

/** The repository's README.md, found upwards from this file (it runs from dist/test/...). */
function readme(): string {
  for (let directory = dirname(fileURLToPath(import.meta.url)); directory !== dirname(directory); directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json")) && existsSync(join(directory, "README.md"))) return readFileSync(join(directory, "README.md"), "utf8");
  }
  assert.fail("README.md not found above this test file");
}

/** The rows of the first table under `heading`, each a map from column header to cell text. */
function markdownTable(text: string, heading: string): Record<string, string>[] {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.trim() === heading);
  assert.ok(start >= 0, `README has no heading ${JSON.stringify(heading)}`);
  const first = lines.findIndex((line, index) => index > start && line.startsWith("|"));
  assert.ok(first > start, `no table under ${heading}`);
  const cells = (line: string) => line.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim());
  const headers = cells(lines[first] ?? "");
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(Object.fromEntries(cells(line).map((cell, index) => [headers[index] ?? String(index), cell])));
  }
  return rows;
}

describe("README per-node settings table", () => {
  const rows = markdownTable(readme(), "## Per-node settings (Consul Meta and tags)");

  test("lists every key of the table in setting-keys.ts, and no other", () => {
    const documented = rows.map((row) => /^`([^`]+)`$/.exec(row["key"] ?? "")?.[1] ?? `unreadable key cell ${JSON.stringify(row["key"])}`);
    const missing = SETTING_KEYS.filter((key) => !documented.includes(key));
    const unknown = documented.filter((key) => !(SETTING_KEYS as readonly string[]).includes(key));
    assert.deepEqual({ missing, unknown }, { missing: [], unknown: [] }, "README's per-node settings table and handler/source/setting-keys.ts disagree");
    assert.equal(documented.length, new Set(documented).size, "a key is listed twice");
  });

  test("each row shows the key's Meta form and where it applies", () => {
    for (const row of rows) {
      const key = /^`([^`]+)`$/.exec(row["key"] ?? "")?.[1] ?? "";
      const spec = (NODE_SETTING_KEYS as Record<string, { appliesTo: string } | undefined>)[key];
      if (spec === undefined) continue;
      assert.ok((row["Meta / tag"] ?? "").startsWith(`\`haproxy_${key}\``), `${key}: the Meta / tag column starts with \`haproxy_${key}\`, got ${JSON.stringify(row["Meta / tag"])}`);
      assert.equal(row["applies to"], spec.appliesTo, `${key}: README's "applies to"`);
    }
  });
});
