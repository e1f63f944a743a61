import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointFromEntry } from "../../../handler/source/node-settings.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";

function entry(overrides: { meta?: Record<string, string>; tags?: string[]; nodeMeta?: Record<string, string> } = {}): ConsulHealthEntry {
  return {
    Node: { Node: "node-1", Address: "10.0.0.1", Meta: overrides.nodeMeta ?? {} },
    Service: { ID: "svc-1", Service: "iri", Address: "", Port: 14265, Tags: overrides.tags ?? [], Meta: overrides.meta ?? {} },
    Checks: [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

describe("node settings: version", () => {
  test("read from Meta haproxy_version, tag haproxy.version=, Node Meta, in that order", () => {
    const meta = endpointFromEntry(entry({ meta: { haproxy_version: "1.0.1" }, tags: ["haproxy.version=1.0.2"], nodeMeta: { haproxy_version: "1.0.3" } }));
    assert.ok(meta.ok);
    assert.equal(meta.endpoint.settings.version, "1.0.1");
    const tag = endpointFromEntry(entry({ tags: ["haproxy.version=1.0.2"], nodeMeta: { haproxy_version: "1.0.3" } }));
    assert.ok(tag.ok);
    assert.equal(tag.endpoint.settings.version, "1.0.2");
    const nodeMeta = endpointFromEntry(entry({ nodeMeta: { haproxy_version: "2.0.0-rc.1" } }));
    assert.ok(nodeMeta.ok);
    assert.equal(nodeMeta.endpoint.settings.version, "2.0.0-rc.1");
    const none = endpointFromEntry(entry());
    assert.ok(none.ok);
    assert.equal(none.endpoint.settings.version, undefined);
  });

  test("anything but MAJOR.MINOR.PATCH[-pre] rejects the node, naming key and value", () => {
    for (const value of ["1.0", "v1.0.0", "1.0.0+build.1", "latest", "1.0.0;show info", ""]) {
      const result = endpointFromEntry(entry({ meta: { haproxy_version: value } }));
      assert.ok(!result.ok, value);
      assert.equal(result.rejection.key, "version");
      assert.equal(result.rejection.value, value);
      assert.match(result.rejection.reason, /MAJOR\.MINOR\.PATCH/);
    }
  });
});
