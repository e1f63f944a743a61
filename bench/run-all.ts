// Runs the benchmarks and prints every figure with the HAProxy shape it was
// measured on, then one table: figure, target, measured, met/missed.
//   make bench                                  (npm run build && node dist/bench/run-all.js)
//   make bench BENCH=--quick                    (fewer samples; about 4 minutes)
//   make bench BENCH="--only latency,scale"     (node dist/bench/run-all.js --only latency,scale)
//   make bench BENCH="--only longchurn --minutes 30"   (10,000 instances, RSS and descriptors over a long churn)
// A benchmark that fails (a timeout, wrk without a summary) is reported as an
// error row; the others still run; the exit code is then 1.
import { burstBenchmark } from "./burst.js";
import { churnBenchmark } from "./churn.js";
import { figures, machine, report } from "./lib.js";
import { firstCheckBenchmark, latencyBenchmarks, watchBenchmark } from "./latency.js";
import { longChurnBenchmark } from "./long-churn.js";
import { portmapBenchmark } from "./portmap.js";
import { reloadBenchmark } from "./reload.js";
import { restartBenchmark } from "./restart.js";
import { scaleBenchmark } from "./scale.js";

const suites: Record<string, (quick: boolean) => Promise<void>> = {
  latency: latencyBenchmarks,
  firstcheck: firstCheckBenchmark,
  restart: restartBenchmark,
  scale: scaleBenchmark,
  burst: burstBenchmark,
  churn: churnBenchmark,
  reload: reloadBenchmark,
  watch: watchBenchmark,
  portmap: portmapBenchmark,
  // Not in the defaults: 30 minutes of its own (--minutes N).
  longchurn: longChurnBenchmark,
};

const quick = process.argv.includes("--quick");
const onlyFlag = process.argv.indexOf("--only");
const defaults = ["latency", "firstcheck", "restart", "scale", "burst", "churn", "reload", "portmap", ...(quick ? [] : ["watch"])];
const only = onlyFlag > 0 ? (process.argv[onlyFlag + 1] ?? "").split(",").filter((name) => name !== "") : defaults;
const unknown = only.filter((name) => !(name in suites));
if (unknown.length > 0 || only.length === 0) {
  console.error(`unknown benchmark ${unknown.join(", ") || "(none given)"}; choose from ${Object.keys(suites).join(", ")}`);
  process.exit(2);
}

const started = Date.now();
const header = `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${machine()}${quick ? ", --quick" : ""}`;
console.log(header);
let failed = 0;
for (const name of only) {
  const suite = suites[name];
  if (!suite) continue;
  console.log(`\n== ${name}`);
  const suiteStarted = Date.now();
  try {
    await suite(quick);
  } catch (error) {
    failed += 1;
    console.error(`benchmark ${name} failed: ${(error as Error).stack ?? String(error)}`);
    report({ figure: `${name} benchmark`, shape: "", target: "finishes", measured: `ERROR: ${(error as Error).message.split("\n")[0]}`, met: false });
  }
  console.log(`(${name}: ${((Date.now() - suiteStarted) / 1000).toFixed(0)} s)`);
}

const cell = (text: string) => text.replace(/\|/g, "\\|");
console.log(`\n== figures (${header}; ${((Date.now() - started) / 1000).toFixed(0)} s; percentiles: nearest rank)`);
console.log("| figure (shape) | target | measured | |");
console.log("| --- | --- | --- | --- |");
for (const figure of figures) {
  const verdict = figure.met === undefined ? "" : figure.met ? "met" : "missed";
  console.log(`| ${cell(figure.figure)}${figure.shape ? ` ${cell(figure.shape)}` : ""} | ${cell(figure.target)} | ${cell(figure.measured)} | ${verdict} |`);
}
process.exit(failed > 0 ? 1 : 0);
