// acme-client (with its axios and X.509 library) is loaded at the first ACME
// order, not when the handler starts: a handler without certificate_name pays
// neither its start-up time nor its memory (issue 20's RSS figure). Checked in
// a fresh Node process by what its CommonJS loader holds after importing a
// module; acme.ts itself is the control that the check sees acme-client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** How many of acme-client's files a fresh process has loaded after importing `module` (a path under dist/handler). */
function acmeClientFilesAfterImporting(module: string): number {
  const path = fileURLToPath(new URL(`../../../handler/${module}`, import.meta.url));
  const script = `import { createRequire } from "node:module";
await import(${JSON.stringify(path)});
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes("/node_modules/acme-client/"));
process.stdout.write(String(loaded.length));`;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.match(output, /^\d+$/, `the probe printed a count: ${output}`);
  return Number(output);
}

test("run's module graph (triggers, reconcile, certificates' manager) loads no acme-client", () => {
  assert.equal(acmeClientFilesAfterImporting("triggers/run.js"), 0);
  assert.equal(acmeClientFilesAfterImporting("certificates/index.js"), 0);
});

test("the control: importing the order itself (certificates/acme.js) loads acme-client", () => {
  assert.ok(acmeClientFilesAfterImporting("certificates/acme.js") > 0);
});
