import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "../../../handler/config/config.js";

const base = { services: [{ name: "iri", backend: "iri_back", slotPrefix: "irisrv" }] };

function problemsOf(document: unknown): string[] {
  try {
    validateConfig(document, "test.yml");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("haproxy.slotsFile", () => {
  test("optional; when set, template and output are read", () => {
    assert.equal(validateConfig({ ...base, haproxy: { socket: "/run/haproxy/admin.sock" } }, "t").haproxy.slotsFile, undefined);
    const config = validateConfig({ ...base, haproxy: { socket: "/run/haproxy/admin.sock", slotsFile: { template: "/etc/haproxy/backends.cfg.in", output: "/var/lib/haproxy-slots/backends.cfg" } } }, "t");
    assert.deepEqual(config.haproxy.slotsFile, { template: "/etc/haproxy/backends.cfg.in", output: "/var/lib/haproxy-slots/backends.cfg" });
  });

  test("both paths are required, must differ, and unknown keys are named", () => {
    assert.deepEqual(problemsOf({ ...base, haproxy: { socket: "s", slotsFile: { template: "/a" } } }), ["haproxy.slotsFile.output: missing; expected the path of the file HAProxy loads with an extra -f"]);
    assert.deepEqual(problemsOf({ ...base, haproxy: { socket: "s", slotsFile: { template: "/a", output: "/a" } } }), ["haproxy.slotsFile: template and output must be different files (the output is rewritten)"]);
    assert.match(problemsOf({ ...base, haproxy: { socket: "s", slotsFile: { template: "/a", output: "/b", outptu: "/c" } } }).join(), /haproxy\.slotsFile\.outptu: unknown key/);
  });
});
