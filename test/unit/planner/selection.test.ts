// Selection keys (which instances of a service a backend serves) and the
// managed prefixes per backend: the names both sides of a reconcile match on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { managedPrefixes, selectionKey } from "../../../handler/planner/selection.js";
import type { PlannerPolicy, SlotClass } from "../../../handler/planner/model.js";

const slotClass = (prefix: string): SlotClass => ({ prefix, scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 });

describe("selectionKey", () => {
  test("the name alone when nothing narrows it; tag, then filter, joined by &", () => {
    assert.equal(selectionKey({ name: "iri" }), "iri");
    assert.equal(selectionKey({ name: "iri", tag: "live" }), "iri?tag=live");
    assert.equal(selectionKey({ name: "iri", filter: 'Meta.pow == "true"' }), 'iri?filter=Meta.pow == "true"');
    assert.equal(selectionKey({ name: "iri", tag: "live", filter: "x" }), "iri?tag=live&filter=x");
  });
  test("an empty tag or filter still narrows: it is part of the key", () => {
    assert.equal(selectionKey({ name: "iri", tag: "" }), "iri?tag=");
    assert.notEqual(selectionKey({ name: "iri", tag: "" }), selectionKey({ name: "iri" }));
  });
});

describe("managedPrefixes", () => {
  test("every class prefix of every backend; two policy entries for one backend add up", () => {
    const policy: PlannerPolicy = {
      backends: [
        { backend: "iri_back", role: "default", serviceName: "iri", classes: [slotClass("irisrv"), slotClass("irisrvtls")], defaults: { weight: 1, maxconn: 0 } },
        { backend: "iri_pow_back", role: "pow", serviceName: "iri", classes: [slotClass("powsrv")], defaults: { weight: 1, maxconn: 2 } },
        { backend: "iri_back", role: "default", serviceName: "api", classes: [slotClass("apisrv")], defaults: { weight: 1, maxconn: 0 } },
      ],
      warningAs: "ready",
      drainSeconds: 30,
      holdDownUntilChecked: true,
      maxWeight: 256,
    };
    assert.deepEqual([...managedPrefixes(policy)], [
      ["iri_back", ["irisrv", "irisrvtls", "apisrv"]],
      ["iri_pow_back", ["powsrv"]],
    ]);
  });
});
