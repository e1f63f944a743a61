import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, validateConfig } from "../../../handler/config/config.js";
import { commands, MAXCONN, WEIGHT } from "../../../handler/haproxy-runtime-api/index.js";

function problemsOf(document: unknown): string[] {
  try {
    validateConfig(document, "test.yml");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("config", () => {
  test("the documented minimal shape loads, with defaults filled in", () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-config-"));
    const file = join(directory, "config.yml");
    writeFileSync(
      file,
      [
        "consul:",
        "  address: http://127.0.0.1:8500",
        "  tokenFile: /etc/consul/consul_master_token   # optional",
        "haproxy:",
        "  socket: 127.0.0.1:9999",
        "services:",
        "  - name: iri",
        "    backend: iri_back",
        "    powBackend: iri_pow_back",
        "    slotPrefix: irisrv",
      ].join("\n"),
    );
    const config = loadConfig(file);
    assert.equal(config.consul.address, "http://127.0.0.1:8500");
    assert.equal(config.consul.tokenFile, "/etc/consul/consul_master_token");
    assert.equal(config.haproxy.socket, "127.0.0.1:9999");
    assert.equal(config.haproxy.holdDownUntilChecked, true);
    assert.deepEqual(config.policy, { warningAs: "ready", drainSeconds: 30, maxRemovalFraction: 0.5, massRemovalMinNodes: 3, massRemovalHoldSeconds: 300 });
    assert.deepEqual(config.services[0], {
      name: "iri",
      backend: "iri_back",
      powBackend: "iri_pow_back",
      slotPrefix: "irisrv",
      slotClasses: [],
      defaults: { weight: 1, maxconn: 0 },
      powDefaults: { weight: 1, maxconn: 0 },
    });
  });

  test("every problem is reported with its key and what is expected", () => {
    const problems = problemsOf({
      consul: { address: "ftp://127.0.0.1:8500", timeoutMs: "soon" },
      haproxy: {},
      policy: { warningAs: "maybe", drainSeconds: -1 },
      services: [{ name: "iri", backend: "iri back; show info", slotPrefix: "irisrv", defaults: { weight: 300 } }, "x"],
      extra: true,
    });
    const expectations = [
      /^consul\.address: "ftp:\/\/127\.0\.0\.1:8500" is not valid; expected host:port, http:\/\/host:port/,
      /^consul\.timeoutMs: expected a whole number from 100 to 600000, got "soon"/,
      /^haproxy\.socket: missing; expected host:port/,
      /^policy\.warningAs: expected one of ready, drain, got "maybe"/,
      /^policy\.drainSeconds: expected a whole number from 0 to 86400, got -1/,
      /^services\[0\]\.backend: .* is not valid; expected an HAProxy backend name/,
      /^services\[0\]\.defaults\.weight: expected a whole number from 0 to 256, got 300/,
      /^services\[1\]: expected a mapping/,
      /^\(top level\)\.extra: unknown key/,
    ];
    for (const expected of expectations) {
      assert.ok(problems.some((problem) => expected.test(problem)), `no problem matching ${String(expected)} in:\n${problems.join("\n")}`);
    }
  });

  test("a missing file says how to fix it", () => {
    assert.throws(() => loadConfig("/nonexistent/config.yml"), /cannot read the file \(ENOENT\); pass --config <file>/);
  });

  test("invalid YAML is reported as such", () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-config-"));
    const file = join(directory, "bad.yml");
    writeFileSync(file, "services: [\n");
    assert.throws(() => loadConfig(file), /not valid YAML/);
  });

  test("slot classes and grow are validated", () => {
    const problems = problemsOf({
      haproxy: { socket: "/run/haproxy/admin.sock" },
      services: [
        {
          name: "iri",
          backend: "b",
          slotPrefix: "s",
          slotClasses: [{ prefix: "t", scheme: "gopher" }, { prefix: "s" }],
          grow: { keywords: ["check", "inter 2s"] },
        },
      ],
    });
    assert.ok(problems.some((problem) => problem.startsWith("services[0].slotClasses[0].scheme: expected one of http, https")));
    assert.ok(problems.some((problem) => problem.includes("slot prefix s is listed twice")));
    assert.ok(problems.some((problem) => problem.startsWith("services[0].grow.keywords:")));
  });

  test("two services may not claim the same slots", () => {
    const problems = problemsOf({
      haproxy: { socket: "127.0.0.1:9999" },
      services: [
        { name: "a", backend: "b", slotPrefix: "s" },
        { name: "c", backend: "b", slotPrefix: "s" },
      ],
    });
    assert.ok(problems.some((problem) => problem.includes("claimed by both a and c")));
  });

  test("names, weights, maxconn and grow keywords: exactly what the runtime client accepts", () => {
    const name64 = "b".repeat(64);
    const service = (overrides: Record<string, unknown>) => ({ haproxy: { socket: "127.0.0.1:9999" }, services: [{ name: "a", backend: "b", slotPrefix: "s", ...overrides }] });
    const edge = validateConfig(
      service({ backend: name64, powBackend: "p.o:w-b_1", defaults: { weight: WEIGHT.max, maxconn: MAXCONN.max }, powDefaults: { weight: WEIGHT.min, maxconn: MAXCONN.min }, grow: { keywords: ["check", "ca-file", "/etc/ssl/ca.pem"] } }),
      "test.yml",
    ).services[0];
    assert.ok(edge);
    // What the config accepts builds commands without a throw.
    assert.doesNotThrow(() => commands.setServerWeight(edge.backend, `${edge.slotPrefix}1`, edge.defaults.weight));
    assert.doesNotThrow(() => commands.setServerMaxconn(edge.backend, `${edge.slotPrefix}1`, edge.defaults.maxconn));
    assert.doesNotThrow(() => commands.addServer(edge.backend, `${edge.slotPrefix}1`, "10.0.0.1", 80, edge.grow?.keywords ?? []));
    const problems = problemsOf(service({ backend: `${name64}b`, slotPrefix: "s p", defaults: { weight: WEIGHT.max + 1, maxconn: MAXCONN.max + 1 }, grow: { keywords: ["inter 2s"] } }));
    // In the order of the services table (and README): defaults before grow.
    assert.deepEqual(problems, [
      `services[0].backend: "${name64}b" is not valid; expected an HAProxy backend name: letters, digits, '_', '.', ':' or '-' (at most 64)`,
      `services[0].slotPrefix: "s p" is not valid; expected the server-template prefix: letters, digits, '_', '.', ':' or '-' (at most 64)`,
      "services[0].defaults.weight: expected a whole number from 0 to 256, got 257",
      "services[0].defaults.maxconn: expected a whole number from 0 to 1000000, got 1000001",
      `services[0].grow.keywords: expected a list of HAProxy server keywords and values of letters, digits, '_', '.', ':', '/' or '-' (at most 128), got a list`,
    ]);
  });
});
