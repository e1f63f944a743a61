import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointsFromSnapshots, mergeDesired } from "../../../handler/source/desired.js";
import type { ServiceSnapshot } from "../../../handler/source/consul-source.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";
import { createLogger } from "../../../handler/log.js";

const logger = createLogger("error");

function entry(id: string, meta: Record<string, string> = {}): ConsulHealthEntry {
  return {
    Node: { Node: id, Address: "10.0.0.1", Meta: {} },
    Service: { ID: id, Service: "iri", Address: "10.0.0.2", Port: 80, Tags: [], Meta: meta },
    Checks: [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

describe("desired state from Consul's answers", () => {
  test("endpoints carry the selection key they were read with; bad settings and malformed entries are rejected under it", () => {
    const snapshot: ServiceSnapshot = { service: "iri", key: "iri?tag=v2", entries: [entry("good"), entry("bad", { haproxy_maxconn: "-1" })], malformed: ["Service.Port is not a number"], index: 3 };
    const desired = endpointsFromSnapshots([snapshot], logger);
    assert.deepEqual(desired.endpoints.map((endpoint) => [endpoint.serviceId, endpoint.serviceName, endpoint.address]), [["good", "iri?tag=v2", "10.0.0.2"]]);
    assert.deepEqual(
      desired.rejected.map((rejection) => [rejection.service, rejection.serviceId, rejection.key]),
      [
        ["iri?tag=v2", "(malformed entry)", "entry"],
        ["iri?tag=v2", "bad", "maxconn"],
      ],
    );
  });

  test("several services' states merge into one", () => {
    const a = endpointsFromSnapshots([{ service: "a", key: "a", entries: [entry("a1")], malformed: [], index: 1 }], logger);
    const b = endpointsFromSnapshots([{ service: "b", key: "b", entries: [entry("b1")], malformed: ["x"], index: 1 }], logger);
    const merged = mergeDesired([a, b]);
    assert.deepEqual(merged.endpoints.map((endpoint) => endpoint.serviceId), ["a1", "b1"]);
    assert.deepEqual(merged.rejected.map((rejection) => rejection.service), ["b"]);
  });
});
