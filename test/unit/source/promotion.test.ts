// The value of a promoted version from Consul's KV answer (GET /v1/kv/<key>):
// base64 in a list of one entry; anything else is not an answer to act on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { kvValue } from "../../../handler/source/promotion.js";

describe("kvValue", () => {
  test("decodes the entry's base64 Value", () => {
    assert.equal(kvValue([{ Key: "consul-haproxy-handler/iri/promoted", Value: Buffer.from("1.2.3").toString("base64") }]), "1.2.3");
  });

  test("a key that holds nothing is null", () => {
    assert.equal(kvValue([{ Key: "k", Value: null }]), null);
    assert.equal(kvValue([{ Key: "k" }]), null);
  });

  test("anything but a list of one entry is undefined (a bad answer)", () => {
    for (const body of [[], {}, "1.2.3", null, [null], ["x"], [{ Value: 5 }]]) assert.equal(kvValue(body), undefined, JSON.stringify(body));
  });
});
