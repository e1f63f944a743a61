#!/usr/bin/env node
// Runs one test suite (the compiled *.test.js files under dist/test/<suite>)
// with node's own test runner, and ends with plain count lines that CI reads:
//   <name>: N tests ran in N files (N cancelled, N todo)
//   <name>: N passed, N failed, N skipped
// The suite fails when a test failed, was cancelled, skipped or left todo,
// when a suite's setup threw, when a file ran no test, or when no test ran
// at all: a suite or file that proved nothing is not a pass.
// Usage: node test/run-suite.mjs <unit|integration|playbook> [--concurrency N] [--name NAME]
// NAME (default: the suite) labels the lines, e.g. integration-haproxy-3.0
// when the same suite runs once per HAProxy version.
import { spawn } from "node:child_process";
import { readdirSync, statSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

// Node's own TAP goes to stdout for people; test/run-suite-reporter.mjs
// writes one JSON line per test and suite to a file, which the counts below
// come from (see that file for what node's "# pass N" lines miss).
const eventsDir = mkdtempSync(join(tmpdir(), "run-suite-"));
const eventsFile = join(eventsDir, "events.jsonl");
// The tests' own temporary files (configs, sockets, Consul data) go under a
// TMPDIR that is removed with the rest once the suite ends, whatever a test
// forgot to clean up (the unit tests alone, run once per mutant by the
// mutation tests, left tens of thousands of directories in /tmp).
const testTmp = join(eventsDir, "tmp");
mkdirSync(testTmp);
const child = spawn(
  process.execPath,
  // A test that hangs fails instead of holding CI until its deadline. Node 20
  // applies --test-timeout to each file as a whole too: a file of ten
  // integration tests took more than two minutes on a loaded machine.
  [
    "--enable-source-maps", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=300000",
    "--test-reporter=tap", "--test-reporter-destination=stdout",
    `--test-reporter=${fileURLToPath(new URL("run-suite-reporter.mjs", import.meta.url))}`,
    `--test-reporter-destination=${eventsFile}`,
    ...files,
  ],
  { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, TMPDIR: testTmp } },
);
child.on("close", (code) => {
  const events = existsSync(eventsFile)
    ? readFileSync(eventsFile, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
    : [];
  rmSync(eventsDir, { recursive: true, force: true });
  const counts = countEvents(events, files);
  const { ran, passed, failed, skipped, cancelled, todo } = counts;
  console.log(`${name}: ${ran} tests ran in ${files.length} files (${cancelled} cancelled, ${todo} todo)`);
  for (const line of counts.notes) console.log(`${name}: ${line}`);
  console.log(`${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  const problems = [];
  if (code !== 0) problems.push(`the test runner exited with ${code}`);
  if (ran === 0 || passed === 0) problems.push("no test ran");
  if (failed + cancelled > 0) problems.push(`${failed + cancelled} failed or cancelled`);
  if (skipped + todo > 0) problems.push(`${skipped + todo} skipped or todo: a skipped test proves nothing`);
  if (problems.length > 0) console.log(`${name}: FAILED (${problems.join("; ")})`);
  process.exit(problems.length === 0 ? 0 : 1);
});

// Tests are counted one by one. On top of failed tests, "failed" counts each
// suite whose own body threw (its tests never ran), each file that failed
// outside any test (it did not load, or its process died) and each file that
// ran no test at all: node reports such a file as one passing test.
function countEvents(events, testFiles) {
  const counts = { ran: 0, passed: 0, failed: 0, skipped: 0, cancelled: 0, todo: 0, notes: [] };
  // With --enable-source-maps an event's file is the TypeScript source
  // (test/unit/x.test.ts) and a file's own entry is named after the compiled
  // file (dist/test/unit/x.test.js): both reduce to "test/unit/x.test".
  const fileKey = (file) => relative(process.cwd(), resolve(file)).replace(/^dist\//, "").replace(/\.[cm]?[jt]s$/, "");
  const testFileKeys = new Set(testFiles.map((file) => fileKey(file)));
  const compiledFile = new Map(testFiles.map((file) => [fileKey(file), file]));
  for (const event of events) {
    const fileItself = event.nesting === 0 && testFileKeys.has(fileKey(event.name));
    const file = fileItself ? fileKey(event.name) : event.file === undefined ? "(no file)" : fileKey(event.file);
    if (fileItself) {
      // The file's own entry: node gives one only when the file ran no test
      // (a passing entry named after the file), or failed outside its tests.
      counts.failed += 1;
      counts.notes.push(event.passed ? `ran no test, which proves nothing: ${compiledFile.get(file) ?? event.file}` : `failed outside any test (${event.failureType ?? "no reason given"}): ${compiledFile.get(file) ?? event.file}`);
      continue;
    }
    if (event.kind === "suite") {
      // A suite fails when one of its tests failed (counted with the test),
      // or when its own body threw: then its tests never ran.
      if (!event.passed && event.failureType !== "subtestsFailed" && event.failureType !== "cancelledByParent") {
        counts.failed += 1;
        counts.notes.push(`suite "${event.name}" failed in its own setup (${event.failureType}), its tests did not run: ${compiledFile.get(file) ?? event.file}`);
      }
      continue;
    }
    counts.ran += 1;
    if (event.todo) counts.todo += 1;
    else if (event.skipped) counts.skipped += 1;
    else if (event.passed) counts.passed += 1;
    else if (event.failureType === "cancelledByParent") counts.cancelled += 1;
    else counts.failed += 1;
  }
  // A test is attributed to the file that calls test() (an event's file), which may be a
  // shared helper (test/integration/faults/fault-cases.ts), not the *.test file that ran
  // it: so "ran no test" comes from node's own file entry above, never from these counts.
  return counts;
}
