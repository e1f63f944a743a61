// The unit tests that guard the mutated modules (planner and its slot reader,
// node settings and their key table, runtime command builders and their
// limits, the mass-removal guard, run-again), run in this one process: StrykerJS's command runner starts this
// once per mutant, so no per-file child processes.
// node:test sets a non-zero exit code when a test fails.
await import("../../dist/test/unit/planner/plan.test.js");
// The slot index the planner reads (kept current by run's cache): its lists, and plans over it equal plans over a fresh read.
await import("../../dist/test/unit/planner/slot-index.test.js");
await import("../../dist/test/unit/planner/versions.test.js");
await import("../../dist/test/unit/planner/versions-decisions.test.js");
await import("../../dist/test/unit/planner/drain-free-steps.test.js");
// Portmap entries' backends: every node, their own port and health, a backend HAProxy has not loaded.
await import("../../dist/test/unit/planner/portmap-backends.test.js");
await import("../../dist/test/unit/haproxy-state/slots-names.test.js");
await import("../../dist/test/unit/source/node-settings.test.js");
await import("../../dist/test/unit/source/node-settings-bounds.test.js");
await import("../../dist/test/unit/source/node-settings-version.test.js");
await import("../../dist/test/unit/source/no-node-address.test.js");
await import("../../dist/test/unit/source/setting-keys.test.js");
await import("../../dist/test/unit/haproxy-runtime-api/commands.test.js");
await import("../../dist/test/unit/haproxy-runtime-api/show-server-stat.test.js");
await import("../../dist/test/unit/haproxy-runtime-api/commands-replies.test.js");
await import("../../dist/test/unit/haproxy-runtime-api/limits.test.js");
// The certificate commands (new/set/commit/abort ssl cert, add ssl crt-list) and their path and payload rules.
await import("../../dist/test/unit/haproxy-runtime-api/ssl-cert-commands.test.js");
// The configuration is checked with the same limits.
await import("../../dist/test/unit/config/config.test.js");
await import("../../dist/test/unit/applier/apply.test.js");
// parse.test reads `show servers state` / `show stat` into slots (haproxy-state/slots).
await import("../../dist/test/unit/haproxy-runtime-api/parse.test.js");
// The mass-removal guard and when the next reconcile is due.
await import("../../dist/test/unit/planner/mass-removal.test.js");
await import("../../dist/test/unit/reconcile/run-again.test.js");
// The slot settings table (planner/slot-settings), itself and as the slots file, the cache and `status` use it.
await import("../../dist/test/unit/planner/slot-settings.test.js");
// Selection keys and managed prefixes.
await import("../../dist/test/unit/planner/selection.test.js");
await import("../../dist/test/unit/slots-file/render.test.js");
await import("../../dist/test/unit/haproxy-state/cache.test.js");
await import("../../dist/test/unit/cli/format-status.test.js");
