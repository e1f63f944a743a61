// The folders of handler/ are floors: a file imports only from its own floor's
// folder or from floors below it (README, Development). eslint.config.js holds
// the rule; these tests run the project's own lint config on small sources
// placed in the folders, so `npm run lint` fails on an import that runs back up.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

/** The repository: the folder above this file that holds eslint.config.js (the suite runs this file compiled, from dist/test/). */
function repositoryRoot(): string {
  for (let folder = dirname(fileURLToPath(import.meta.url)); ; folder = dirname(folder)) {
    if (existsSync(join(folder, "eslint.config.js"))) return `${folder}/`;
    if (dirname(folder) === folder) throw new Error("eslint.config.js not found above this test");
  }
}

const root = repositoryRoot();
const eslint = new ESLint({ cwd: root });

/** The no-restricted-imports messages for `source` placed at `file` (a path under the repo). */
async function floorErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${root}${file}` });
  assert.ok(result, `eslint gave no result for ${file}`);
  return result.messages.filter((message) => message.ruleId === "no-restricted-imports").map((message) => message.message);
}

const up: [string, string][] = [
  ["handler/haproxy-state/reader.ts", 'import { policyFromConfig } from "../reconcile/policy.js";'],
  ["handler/metrics/outcome-recorder.ts", 'import { Controller } from "../triggers/run.js";'],
  ["handler/reconcile/reconcile.ts", 'import { checkConfig } from "../cli/check-config.js";'],
  ["handler/source/promotion.ts", 'import type { Slot } from "../haproxy-state/slots.js";'],
  ["handler/planner/plan.ts", 'import type { HandlerConfig } from "../config/config.js";'],
  ["handler/planner/model.ts", 'import { readFileSync } from "node:fs";'],
  ["handler/applier/apply.ts", 'import { SlotCache } from "../haproxy-state/cache.js";'],
  ["handler/log.ts", 'import { packageVersion } from "./cli/main.js";'],
  // certificates/ sits on config: the rendering, the run and the reconcile are above it.
  ["handler/certificates/manager.ts", 'import { writeWhole } from "../lb/files.js";'],
  ["handler/certificates/acme.ts", 'import { readPortmap } from "../source/portmap.js";'],
  ["handler/config/config.ts", 'import { CertificateStore } from "../certificates/store.js";'],
];

describe("import floors (eslint.config.js)", () => {
  for (const [file, line] of up) {
    test(`${file}: '${line}' runs back up and is an error`, async () => {
      const errors = await floorErrors(file, `${line}\nexport const used = 1;\n`);
      assert.equal(errors.length, 1, `expected one no-restricted-imports error, got ${JSON.stringify(errors)}`);
      assert.match(errors[0] ?? "", /floor/);
    });
  }

  const down: [string, string][] = [
    ["handler/cli/status.ts", 'import { reconcile } from "../reconcile/reconcile.js";'],
    ["handler/triggers/run.ts", 'import { OutcomeRecorder } from "../metrics/outcome-recorder.js";'],
    ["handler/metrics/outcome-recorder.ts", 'import { LockTimeout } from "../reconcile/lock.js";'],
    ["handler/haproxy-state/reader.ts", 'import { managedPrefixes } from "../planner/selection.js";'],
    ["handler/planner/plan.ts", 'import type { Slot } from "./model.js";'],
    ["handler/reconcile/reconcile.ts", 'import { keepSlotsFile } from "./slots-file.js";'],
    ["handler/certificates/manager.ts", 'import type { HandlerConfig } from "../config/config.js";'],
    ["handler/triggers/run.ts", 'import { CertificateManager } from "../certificates/manager.js";'],
    ["handler/cli/status.ts", 'import { CertificateStore } from "../certificates/store.js";'],
    // The challenge responses in Consul KV: source/ implements the certificate module's ChallengeStore.
    ["handler/source/acme-challenges.ts", 'import type { ChallengeStore } from "../certificates/challenge.js";'],
  ];
  for (const [file, line] of down) {
    test(`${file}: '${line}' imports downward or within its floor and passes`, async () => {
      assert.deepEqual(await floorErrors(file, `${line}\nexport const used = 1;\n`), []);
    });
  }
});
