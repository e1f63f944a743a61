#!/usr/bin/env node
// Prints the mutation score of the last StrykerJS run from its JSON report,
// per mutated file and overall, in one line CI's log shows:
//   mutation: score S% (K killed, T timed out, S survived, N no coverage) of M mutants
// Score as Stryker counts it: (killed + timed out) / (killed + timed out + survived + no coverage).
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "reports/mutation/mutation.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (error) {
  console.error(`mutation: no report at ${file} (${error.code ?? error.message}); run 'npx stryker run' first`);
  process.exit(1);
}
const total = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
const score = (counts) => {
  const detected = counts.Killed + counts.Timeout;
  const valid = detected + counts.Survived + counts.NoCoverage;
  return valid === 0 ? Number.NaN : (100 * detected) / valid;
};
for (const [name, { mutants }] of Object.entries(report.files)) {
  const counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, other: 0 };
  for (const mutant of mutants) {
    const key = mutant.status in counts ? mutant.status : "other";
    counts[key] += 1;
    total[key] += 1;
  }
  console.log(`  ${name}: ${score(counts).toFixed(2)}% (${counts.Survived} survived of ${mutants.length})`);
}
const all = total.Killed + total.Timeout + total.Survived + total.NoCoverage + total.other;
console.log(`mutation: score ${score(total).toFixed(2)}% (${total.Killed} killed, ${total.Timeout} timed out, ${total.Survived} survived, ${total.NoCoverage} no coverage) of ${all} mutants`);
