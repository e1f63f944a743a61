import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../../handler/config/config.js";
import { policyFromConfig } from "../../../handler/reconcile/policy.js";

function withService(service: Record<string, unknown>): unknown {
  return { haproxy: { socket: "127.0.0.1:9999" }, services: [{ name: "iri", backend: "iri_back", powBackend: "iri_pow_back", slotPrefix: "irisrv", ...service }] };
}

function problemsOf(document: unknown): string[] {
  try {
    validateConfig(document, "test.yml");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("config: versioning", () => {
  test("absent: off; an empty mapping: on with the documented defaults, for both backends", () => {
    assert.equal(validateConfig(withService({}), "test.yml").services[0]?.versioning, undefined);
    const config = validateConfig(withService({ versioning: {} }), "test.yml");
    assert.deepEqual(config.services[0]?.versioning, { compatible: "minor", prefer: "newest", canaryPercent: 0 });
    const backends = policyFromConfig(config).backends;
    assert.equal(backends.length, 2);
    for (const backend of backends) assert.deepEqual(backend.versioning, { compatible: "minor", prefer: "newest", canaryPercent: 0 });
  });

  test("every key is read", () => {
    const config = validateConfig(withService({ versioning: { compatible: "exact", prefer: "oldest", canaryPercent: 50 } }), "test.yml");
    assert.deepEqual(config.services[0]?.versioning, { compatible: "exact", prefer: "oldest", canaryPercent: 50 });
  });

  test("bad values name the key and what is expected", () => {
    const problems = problemsOf(withService({ versioning: { compatible: "patch", prefer: "latest", canaryPercent: 51, canary: 5 } }));
    for (const expected of [
      /services\[0\]\.versioning\.compatible: expected one of minor, major, exact/,
      /services\[0\]\.versioning\.prefer: expected one of newest, oldest/,
      /services\[0\]\.versioning\.canaryPercent: expected a whole number from 0 to 50/,
      /services\[0\]\.versioning\.canary: unknown key/,
    ]) {
      assert.ok(problems.some((problem) => expected.test(problem)), `no problem matching ${String(expected)} in:\n${problems.join("\n")}`);
    }
    assert.ok(problemsOf(withService({ versioning: "on" })).some((problem) => /versioning: expected a mapping/.test(problem)));
  });
});
