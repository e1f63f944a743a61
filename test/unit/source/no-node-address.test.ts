// Addresses that are no node's are rejected like any other bad value.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { endpointFromEntry, notANodeAddress } from "../../../handler/source/node-settings.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";

function entry(serviceAddress: string, nodeAddress = "10.0.0.1"): ConsulHealthEntry {
  return {
    Node: { Node: "node-1", Address: nodeAddress, Meta: {} },
    Service: { ID: "svc-1", Service: "iri", Address: serviceAddress, Port: 14265, Tags: [], Meta: {} },
    Checks: [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

describe("addresses that are no node's", () => {
  const refused = ["0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255", "::", "0:0:0:0:0:0:0:0", "ff02::1", "ff05::1:3", "::ffff:0.0.0.0", "::ffff:0:0", "::ffff:224.0.0.1", "::ffff:255.255.255.255"];
  for (const address of refused) {
    test(`refused: ${address} (as Service.Address and as Node.Address)`, () => {
      assert.ok(notANodeAddress(address));
      for (const candidate of [entry(address), entry("", address)]) {
        const result = endpointFromEntry(candidate);
        assert.equal(result.ok, false, `${address} must not become an endpoint`);
        if (result.ok) return;
        assert.deepEqual({ serviceId: result.rejection.serviceId, key: result.rejection.key, value: result.rejection.value }, { serviceId: "svc-1", key: "address", value: address });
        assert.match(result.rejection.reason, /no node's address/);
      }
    });
  }

  const accepted = ["10.0.0.1", "127.0.0.1", "1.0.0.0", "223.255.255.255", "240.0.0.1", "255.255.255.254", "::1", "fe80::1", "2001:db8::1", "fd00::5", "::ffff:10.0.0.1"];
  for (const address of accepted) {
    test(`accepted: ${address}`, () => {
      assert.equal(notANodeAddress(address), undefined);
      const result = endpointFromEntry(entry(address));
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.endpoint.address, address);
    });
  }
});
