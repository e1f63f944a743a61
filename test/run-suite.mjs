#!/usr/bin/env node
// Runs one test suite (the compiled *.test.js files under dist/test/<suite>)
// with node's own test runner, and ends with plain count lines that CI reads:
//   <name>: N tests ran in N files (N cancelled, N todo)
//   <name>: N passed, N failed, N skipped
// The suite fails when a test failed, was cancelled, skipped or left todo,
// or when no test ran at all: a suite that proved nothing is not a pass.
// Usage: node test/run-suite.mjs <unit|integration|playbook> [--concurrency N] [--name NAME]
// NAME (default: the suite) labels the lines, e.g. integration-haproxy-3.0
// when the same suite runs once per HAProxy version.
import { spawn } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

const suite = process.argv[2];
if (!suite) {
  console.error("usage: node test/run-suite.mjs <suite> [--concurrency N]");
  process.exit(2);
}
const concurrencyFlag = process.argv.indexOf("--concurrency");
const concurrency = concurrencyFlag > 0 ? process.argv[concurrencyFlag + 1] : "2";
const nameFlag = process.argv.indexOf("--name");
const name = nameFlag > 0 ? process.argv[nameFlag + 1] : suite;
const root = join("dist", "test", suite);
if (!existsSync(root)) {
  console.error(`no compiled tests in ${root}: run 'npm run build' first`);
  process.exit(2);
}

function collect(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return collect(path);
    return entry.endsWith(".test.js") ? [path] : [];
  });
}
const files = collect(root).sort();
if (files.length === 0) {
  console.error(`no *.test.js files in ${root}`);
  process.exit(1);
}

const child = spawn(
  process.execPath,
  // A test that hangs fails instead of holding CI until its deadline. Node 20
  // applies --test-timeout to each file as a whole too: a file of ten
  // integration tests took more than two minutes on a loaded machine.
  ["--enable-source-maps", "--test", "--test-reporter=tap", `--test-concurrency=${concurrency}`, "--test-timeout=300000", ...files],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on("close", (code) => {
  // The runner's closing summary: "# tests N", "# pass N", ... (one each).
  const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(tail)?.[1] ?? 0);
  const [ran, passed, failed, skipped, cancelled, todo] = ["tests", "pass", "fail", "skipped", "cancelled", "todo"].map(count);
  console.log(`${name}: ${ran} tests ran in ${files.length} files (${cancelled} cancelled, ${todo} todo)`);
  console.log(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  const problems = [];
  if (code !== 0) problems.push(`the test runner exited with ${code}`);
  if (ran === 0 || passed === 0) problems.push("no test ran");
  if (failed + cancelled > 0) problems.push(`${failed + cancelled} failed or cancelled`);
  if (skipped + todo > 0) problems.push(`${skipped + todo} skipped or todo: a skipped test proves nothing`);
  if (passed !== ran - skipped - todo - failed - cancelled) problems.push(`the counts do not add up (${ran} ran)`);
  if (problems.length > 0) console.log(`${name}: FAILED (${problems.join("; ")})`);
  process.exit(problems.length === 0 ? 0 : 1);
});
