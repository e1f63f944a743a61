// From the config file to the planner's policy: backends, slot classes,
// defaults and the managed prefixes. Built through validateConfig, the same
// path a config file takes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../../handler/config/config.js";
import { policyFromConfig } from "../../../handler/reconcile/policy.js";
import { managedPrefixes } from "../../../handler/planner/selection.js";
import { WEIGHT } from "../../../handler/haproxy-runtime-api/index.js";

function config(services: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return validateConfig({ consul: { address: "http://127.0.0.1:8500" }, haproxy: { socket: "/run/haproxy/admin.sock" }, services, ...extra }, "test.yml");
}

const iri = {
  name: "iri",
  backend: "iri_back",
  powBackend: "iri_pow_back",
  slotPrefix: "irisrv",
  defaults: { weight: 2, maxconn: 0 },
  powDefaults: { weight: 1, maxconn: 2 },
  slotClasses: [
    { prefix: "fast", timeout: "fast" },
    { prefix: "tls", scheme: "https", sslVerify: false },
  ],
  grow: { keywords: ["check", "inter", "2s"], limit: 80 },
};

describe("policy from config", () => {
  test("a service with a PoW backend gives two backends sharing its classes, each with its own defaults", () => {
    const policy = policyFromConfig(config([iri]));
    assert.deepEqual(
      policy.backends.map((backend) => [backend.backend, backend.role, backend.serviceName, backend.defaults]),
      [
        ["iri_back", "default", "iri", { weight: 2, maxconn: 0 }],
        ["iri_pow_back", "pow", "iri", { weight: 1, maxconn: 2 }],
      ],
    );
    const [main, pow] = policy.backends;
    assert.deepEqual(main?.classes, pow?.classes);
    assert.deepEqual(main?.classes, [
      { prefix: "irisrv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: ["check", "inter", "2s"], growLimit: 80 },
      { prefix: "fast", scheme: "http", sslVerify: true, timeoutClass: "fast", growKeywords: [], growLimit: 0 },
      { prefix: "tls", scheme: "https", sslVerify: false, timeoutClass: "default", growKeywords: [], growLimit: 0 },
    ]);
  });

  test("without powBackend there is one backend; without grow the default class never grows", () => {
    const plain = { name: "other", backend: "other_back", slotPrefix: iri.slotPrefix, defaults: iri.defaults, slotClasses: iri.slotClasses };
    const policy = policyFromConfig(config([plain]));
    assert.deepEqual(policy.backends.map((backend) => backend.backend), ["other_back"]);
    assert.deepEqual(policy.backends[0]?.classes[0], { prefix: "irisrv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 });
  });

  test("policy settings come from policy and haproxy sections", () => {
    const on = policyFromConfig(config([iri], { policy: { warningAs: "drain", drainSeconds: 45 } }));
    assert.equal(on.warningAs, "drain");
    assert.equal(on.drainSeconds, 45);
    assert.equal(on.holdDownUntilChecked, true, "hold-down is on by default");
    const off = policyFromConfig(config([iri], { haproxy: { socket: "/run/haproxy/admin.sock", holdDownUntilChecked: false } }));
    assert.equal(off.holdDownUntilChecked, false);
    assert.equal(on.maxWeight, WEIGHT.max, "the planner's weight limit is the runtime API's");
  });

  test("managed prefixes per backend, across services sharing a backend", () => {
    const second = { name: "api", backend: "iri_back", slotPrefix: "apisrv", defaults: { weight: 1, maxconn: 0 } };
    const managed = managedPrefixes(policyFromConfig(config([iri, second])));
    assert.deepEqual([...managed], [
      ["iri_back", ["irisrv", "fast", "tls", "apisrv"]],
      ["iri_pow_back", ["irisrv", "fast", "tls"]],
    ]);
  });

  test("versioning reaches both backends; a tag or filter makes the selection key the endpoints carry", () => {
    const selected = { ...iri, tag: "blue", filter: 'Service.Meta.env == "prod"', versioning: { compatible: "major", canaryPercent: 10 } };
    const policy = policyFromConfig(config([selected]));
    for (const backend of policy.backends) {
      assert.equal(backend.serviceName, 'iri?tag=blue&filter=Service.Meta.env == "prod"', backend.backend);
      assert.deepEqual(backend.versioning, { compatible: "major", prefer: "newest", canaryPercent: 10 }, backend.backend);
    }
    const plain = policyFromConfig(config([iri]));
    assert.equal(plain.backends[0]?.serviceName, "iri");
    assert.equal("versioning" in (plain.backends[0] ?? {}), false, "versioning off: no versioning key at all");
  });
});
