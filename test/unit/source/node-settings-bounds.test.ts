// The edges of every per-node setting's range and word list, and the
// address check on input that is no IP at all: written for mutants that
// survived (docs/mutation-testing.md), each a value an operator may really set.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointFromEntry, notANodeAddress } from "../../../handler/source/node-settings.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";
import type { NodeSettings } from "../../../handler/planner/model.js";

function entry(meta: Record<string, string>, port = 14265): ConsulHealthEntry {
  return {
    Node: { Node: "node-1", Address: "10.0.0.1", Meta: {} },
    Service: { ID: "svc-1", Service: "iri", Address: "", Port: port, Tags: [], Meta: meta },
    Checks: [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

function settings(meta: Record<string, string>): NodeSettings {
  const result = endpointFromEntry(entry(meta));
  assert.ok(result.ok, `${JSON.stringify(meta)} should be accepted: ${JSON.stringify(result)}`);
  return result.endpoint.settings;
}

function rejected(meta: Record<string, string>, port?: number): string {
  const result = endpointFromEntry(entry(meta, port));
  assert.ok(!result.ok, `${JSON.stringify(meta)} port ${port ?? "default"} should be rejected`);
  return result.rejection.key;
}

describe("node settings: the edges of each range", () => {
  test("whole numbers of several digits, up to each setting's maximum and not beyond", () => {
    assert.equal(settings({ haproxy_maxconn: "20" }).maxconn, 20);
    assert.equal(settings({ haproxy_maxconn: "1000000" }).maxconn, 1_000_000);
    assert.equal(rejected({ haproxy_maxconn: "1000001" }), "maxconn");
    assert.equal(settings({ haproxy_weight: "256" }).weight, 256);
    assert.equal(rejected({ haproxy_weight: "257" }), "weight");
    assert.equal(settings({ haproxy_pow_maxconn: "0" }).powMaxconn, 0);
  });

  test("ports 1 and 65535 are ports; 0 and 65536 are not", () => {
    for (const port of [1, 65535]) assert.ok(endpointFromEntry(entry({}, port)).ok, `port ${port}`);
    for (const port of [0, 65536]) assert.equal(rejected({}, port), "port");
  });

  test("true/1/yes/on and false/0/no/off for sslverify and pow; an explicit http scheme", () => {
    for (const word of ["true", "1", "yes", "on"]) {
      assert.equal(settings({ haproxy_sslverify: word, haproxy_scheme: "https" }).sslVerify, true, word);
      assert.equal(settings({ haproxy_pow: word }).pow, "true", word);
    }
    for (const word of ["false", "0", "no", "off"]) {
      assert.equal(settings({ haproxy_sslverify: word, haproxy_scheme: "https" }).sslVerify, false, word);
      assert.equal(settings({ haproxy_pow: word }).pow, "false", word);
    }
    assert.equal(rejected({ haproxy_sslverify: "maybe" }), "sslverify");
    assert.equal(settings({ haproxy_scheme: "http" }).scheme, "http");
    assert.equal(settings({ haproxy_scheme: "https" }).scheme, "https");
  });

  test("notANodeAddress says nothing about what is no IP at all (the IP check before it rejects that)", () => {
    assert.equal(notANodeAddress("localhost"), undefined);
    assert.equal(notANodeAddress("10.0.0.1"), undefined);
    assert.match(notANodeAddress("0.0.0.0") ?? "", /no node's address/);
  });
});
