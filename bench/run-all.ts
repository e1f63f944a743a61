// Runs every benchmark and prints the figures; `--quick` for a shorter run,
// `--only latency,burst,scale,churn` for some of them.
//   npm run build && node dist/bench/run-all.js [--quick] [--only ...]
import { latencyBenchmarks } from "./latency.js";
import { burstBenchmarks } from "./burst.js";
import { scaleBenchmarks } from "./scale.js";
import { churnBenchmark } from "./churn.js";
import { machine } from "./lib.js";

const quick = process.argv.includes("--quick");
const onlyFlag = process.argv.indexOf("--only");
const only = onlyFlag > 0 ? (process.argv[onlyFlag + 1] ?? "").split(",") : ["latency", "burst", "scale", "churn"];
const suites: Record<string, (quick: boolean) => Promise<string[]>> = {
  latency: latencyBenchmarks,
  burst: burstBenchmarks,
  scale: scaleBenchmarks,
  churn: churnBenchmark,
};

const figures: string[] = [`${new Date().toISOString().slice(0, 10)}, ${machine()}${quick ? ", --quick" : ""}`];
for (const name of only) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark ${name}; choose from ${Object.keys(suites).join(", ")}`);
    process.exit(2);
  }
  console.log(`== ${name}`);
  figures.push(...(await suite(quick)));
}
console.log("\n== figures");
console.log(figures.join("\n"));
process.exit(0);
