#!/usr/bin/env node
// Lists the surviving mutants of the last StrykerJS run, by file, one line
// each: line:column, mutator, the original text and its replacement (first
// line of each, shortened). For sorting survivors into the kinds of
// docs/mutation-testing.md: node test/mutation/survivors.mjs [report.json]
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "reports/mutation/mutation.json";
const report = JSON.parse(readFileSync(file, "utf8"));
const clip = (text, width) => {
  const line = text.split("\n")[0].trim();
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
};
for (const [name, { source, mutants }] of Object.entries(report.files)) {
  const survivors = mutants.filter((mutant) => mutant.status === "Survived" || mutant.status === "NoCoverage");
  if (survivors.length === 0) continue;
  const lines = source.split("\n");
  console.log(`${name}: ${survivors.length} of ${mutants.length}`);
  for (const mutant of survivors.sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column)) {
    const { start, end } = mutant.location;
    const original = start.line === end.line ? lines[start.line - 1].slice(start.column - 1, end.column - 1) : lines[start.line - 1].slice(start.column - 1);
    console.log(`  ${start.line}:${start.column} ${mutant.mutatorName}: ${clip(original, 70)} -> ${clip(mutant.replacement ?? "", 50)}`);
  }
}
