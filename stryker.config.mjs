// Mutation testing (StrykerJS 9, Node 20) of the planner, node settings (and
// their key table), the runtime command builders (and their limits), the
// mass-removal guard, the run-again rule and the slots file renderer against the unit tests. It mutates the compiled JS in dist/ ('npm run
// build' first): the command runner starts test/mutation/unit-tests.mjs once
// per mutant, in one process, which is far cheaper than compiling TypeScript
// per mutant. See docs/mutation-testing.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "command",
  // The bail reporter ends the run at the first failed test: a mutant is
  // killed by one failure, the rest of the tests would be time for nothing.
  commandRunner: { command: "node --test-reporter=./test/mutation/bail-reporter.mjs test/mutation/unit-tests.mjs" },
  mutate: [
    "dist/handler/planner/**/*.js",
    "dist/handler/haproxy-state/slots.js",
    "dist/handler/source/node-settings.js",
    "dist/handler/source/setting-keys.js",
    "dist/handler/haproxy-runtime-api/commands.js",
    "dist/handler/haproxy-runtime-api/limits.js",
    // The promised rules outside the planner: when a reconcile asks for the
    // next one (drain end, hold release, a refused command), and the slots
    // file a reload or restart loads (every node in its slot). The
    // mass-removal guard is in planner/ above.
    "dist/handler/reconcile/run-again.js",
    "dist/handler/slots-file/render.js",
  ],
  // dist/ is git-ignored, so Stryker would not copy it into its sandbox by default.
  ignorePatterns: ["/.stryker-tmp", "/reports", "/dist/bench", "/dist/test/integration", "!/dist"],
  coverageAnalysis: "off",
  // CI has 2 cores.
  concurrency: 2,
  timeoutMS: 10000,
  reporters: ["clear-text", "json", "progress-append-only"],
  // No incremental mode: with the command runner Stryker sees one "test"
  // and no test files, so it reused every old result after the tests had
  // changed. A full run takes about 2.5 minutes on 2 cores.
  incremental: false,
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  // break: a score under it fails the run; a couple of points under the
  // score reached (92.91 % on 2026-12-06, see docs/mutation-testing.md).
  thresholds: { high: 90, low: 75, break: 90 },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
