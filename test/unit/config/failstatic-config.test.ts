// The configuration keys of the fail-static work: the guard's policy, the
// blocking wait and the listener's loopback rule.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, isLoopbackListen, validateConfig } from "../../../handler/config/config.js";

const base = { haproxy: { socket: "127.0.0.1:9999" }, services: [{ name: "iri", backend: "b", slotPrefix: "s" }] };

function problemsOf(document: Record<string, unknown>): string[] {
  try {
    validateConfig({ ...base, ...document }, "test.yml");
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
}

describe("fail-static configuration", () => {
  test("defaults", () => {
    const config = validateConfig(base, "test.yml");
    assert.equal(config.policy.maxRemovalFraction, 0.5);
    assert.equal(config.policy.massRemovalMinNodes, 3);
    assert.equal(config.policy.massRemovalHoldSeconds, 300);
    assert.equal(config.consul.blockingWaitSeconds, 60);
    assert.equal(config.run.allowNonLoopback, false);
  });

  test("guard values are checked", () => {
    const problems = problemsOf({ policy: { maxRemovalFraction: 1.5, massRemovalMinNodes: 0, massRemovalHoldSeconds: -1 } });
    assert.ok(problems.some((problem) => problem.startsWith("policy.maxRemovalFraction: expected a fraction from 0 to 1")), problems.join("\n"));
    assert.ok(problems.some((problem) => problem.startsWith("policy.massRemovalMinNodes: expected a whole number from 1")));
    assert.ok(problems.some((problem) => problem.startsWith("policy.massRemovalHoldSeconds: expected a whole number from 0")));
    assert.equal(validateConfig({ ...base, policy: { maxRemovalFraction: 0.25 } }, "t").policy.maxRemovalFraction, 0.25);
  });

  test("run.listen is loopback only unless run.allowNonLoopback says otherwise", () => {
    for (const listen of ["0.0.0.0:9701", "10.0.0.5:9701", "[::]:9701", "[fd00::1]:80"]) {
      const problems = problemsOf({ run: { listen } });
      assert.ok(problems.some((problem) => problem.startsWith(`run.listen: "${listen}" is not a loopback address`) && problem.includes("run.allowNonLoopback: true")), `${listen}: ${problems.join("\n")}`);
      assert.deepEqual(problemsOf({ run: { listen, allowNonLoopback: true } }), []);
    }
    for (const listen of ["127.0.0.1:9701", "127.1.2.3:0", "[::1]:9701", "localhost:9701"]) {
      assert.deepEqual(problemsOf({ run: { listen } }), [], listen);
      assert.ok(isLoopbackListen(listen));
    }
    assert.equal(isLoopbackListen("127.0.0.256:1"), false);
  });

  test("run.listen's port is at most 65535 (0: any free port)", () => {
    const problems = problemsOf({ run: { listen: "127.0.0.1:99999" } });
    assert.ok(problems.some((problem) => problem.startsWith('run.listen: port 99999 in "127.0.0.1:99999" is above 65535')), problems.join("\n"));
    assert.deepEqual(problemsOf({ run: { listen: "127.0.0.1:65535" } }), []);
    assert.deepEqual(problemsOf({ run: { listen: "127.0.0.1:0" } }), []);
  });

  test("consul.blockingWaitSeconds is checked", () => {
    assert.ok(problemsOf({ consul: { blockingWaitSeconds: 0 } }).some((problem) => problem.startsWith("consul.blockingWaitSeconds: expected a whole number from 1 to 600")));
  });
});
