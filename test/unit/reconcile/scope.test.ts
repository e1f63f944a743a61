// What `run`'s next reconcile covers: every backend at first, then only the
// services that changed, nothing when a reconcile before already covered it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PendingScope } from "../../../handler/reconcile/scope.js";

describe("PendingScope", () => {
  test("starts with every backend, then only what changed", () => {
    const scope = new PendingScope();
    scope.service("iri");
    assert.equal(scope.take(), "all");
    assert.equal(scope.take(), undefined, "nothing changed since");
    scope.service("iri");
    scope.service("api?tag=v2");
    assert.deepEqual(scope.take(), new Set(["iri", "api?tag=v2"]));
    assert.equal(scope.take(), undefined);
  });

  test("all() covers every backend until taken, whatever changes meanwhile", () => {
    const scope = new PendingScope();
    scope.take();
    scope.service("iri");
    scope.all();
    scope.service("api");
    assert.equal(scope.take(), "all");
    assert.equal(scope.take(), undefined);
  });
});
