// A change to one service plans only its backends: the same pure planner,
// called with the part of the policy that serves the service.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../../handler/config/config.js";
import { policyForServices, policyFromConfig } from "../../../handler/reconcile/policy.js";
import { mergeGuardMemory } from "../../../handler/planner/mass-removal.js";
import { planReconcile } from "../../../handler/planner/plan.js";
import type { Endpoint, Slot } from "../../../handler/planner/model.js";
import { emptySlots } from "../slot-fixtures.js";

const config = validateConfig(
  {
    consul: { address: "http://127.0.0.1:8500" },
    haproxy: { socket: "/run/haproxy/admin.sock" },
    services: [
      { name: "iri", backend: "iri_back", powBackend: "iri_pow_back", slotPrefix: "irisrv" },
      { name: "api", tag: "v2", backend: "api_back", slotPrefix: "apisrv" },
    ],
  },
  "test.yml",
);

function slots(backend: string, prefix: string, count: number): Slot[] {
  return emptySlots(backend, count, prefix);
}

function endpoint(serviceName: string, id: string, address: string): Endpoint {
  return { serviceName, serviceId: id, node: id, address, port: 80, health: "passing", settings: { pow: "true", scheme: "http", sslVerify: true, timeoutClass: "default" } };
}

describe("partial reconcile", () => {
  const policy = policyFromConfig(config);
  const all = [...slots("iri_back", "irisrv", 3), ...slots("iri_pow_back", "irisrv", 3), ...slots("api_back", "apisrv", 3)];
  const endpoints = [endpoint("iri", "i1", "10.0.0.1"), endpoint("api?tag=v2", "a1", "10.0.1.1")];

  test("the policy of one service: its backends (matched by selection key), nothing else", () => {
    assert.deepEqual(
      policyForServices(policy, new Set(["iri"])).backends.map((backend) => backend.backend),
      ["iri_back", "iri_pow_back"],
    );
    assert.deepEqual(
      policyForServices(policy, new Set(["api?tag=v2"])).backends.map((backend) => backend.backend),
      ["api_back"],
    );
    assert.deepEqual(policyForServices(policy, new Set(["api"])).backends, [], "the name alone is not the selection");
  });

  test("planning one service's backends gives exactly the steps a full plan has for them", () => {
    const full = planReconcile(endpoints, all, policy);
    const partial = planReconcile(endpoints, all, policyForServices(policy, new Set(["api?tag=v2"])));
    assert.deepEqual(partial.steps.map((step) => `${step.backend}/${step.server}`), ["api_back/apisrv1"]);
    assert.deepEqual(partial.steps, full.steps.filter((step) => step.backend === "api_back"));
    assert.deepEqual(partial.usage.map((usage) => usage.backend), ["api_back"]);
  });

  test("the mass-removal guard's memory: a partial reconcile keeps the holds of the backends it did not cover", () => {
    const before = { iri_back: { signature: "irisrv1 10.0.0.1:80", since: 5 }, api_back: { signature: "apisrv1 10.0.1.1:80", since: 6 } };
    assert.deepEqual(mergeGuardMemory(before, {}, new Set(["api_back"])), { iri_back: before.iri_back });
    assert.deepEqual(mergeGuardMemory(before, { api_back: { signature: "x", since: 9 } }, new Set(["api_back"])), { iri_back: before.iri_back, api_back: { signature: "x", since: 9 } });
  });
});
