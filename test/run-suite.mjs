#!/usr/bin/env node
// Runs one test suite (the compiled *.test.js files under dist/test/<suite>)
// with node's own test runner, and ends with a plain count line that CI reads:
//   <name>: N passed, N failed, N skipped
// Usage: node test/run-suite.mjs <unit|integration|playbook> [--concurrency N] [--name NAME]
// NAME (default: the suite) labels the line, e.g. integration-haproxy-3.0
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
  // A test that hangs fails after two minutes instead of holding CI until its deadline.
  ["--enable-source-maps", "--test", "--test-reporter=tap", `--test-concurrency=${concurrency}`, "--test-timeout=120000", ...files],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let passed = 0;
let failed = 0;
let skipped = 0;
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on("close", (code) => {
  passed = Number(/^# pass (\d+)/m.exec(tail)?.[1] ?? 0);
  failed = Number(/^# fail (\d+)/m.exec(tail)?.[1] ?? 0);
  skipped = Number(/^# skipped (\d+)/m.exec(tail)?.[1] ?? 0);
  console.log(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  const ok = code === 0 && failed === 0 && passed > 0;
  process.exit(ok ? 0 : 1);
});
