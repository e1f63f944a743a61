import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { closestSettingKey, endpointFromEntry, foldHealth } from "../../../handler/source/node-settings.js";
import { parseHealthEntry, type ConsulHealthEntry } from "../../../handler/source/health-entry.js";

function entry(overrides: { meta?: Record<string, string>; tags?: string[]; nodeMeta?: Record<string, string>; address?: string; nodeAddress?: string; port?: number; checks?: ConsulHealthEntry["Checks"] } = {}): ConsulHealthEntry {
  return {
    Node: { Node: "node-1", Address: overrides.nodeAddress ?? "10.0.0.1", Meta: overrides.nodeMeta ?? {} },
    Service: { ID: "svc-1", Service: "iri", Address: overrides.address ?? "", Port: overrides.port ?? 14265, Tags: overrides.tags ?? [], Meta: overrides.meta ?? {} },
    Checks: overrides.checks ?? [{ CheckID: "serfHealth", Name: "Serf", Status: "passing", ServiceID: "" }],
  };
}

describe("node settings", () => {
  test("address: Service.Address, or Node.Address when empty", () => {
    const own = endpointFromEntry(entry({ address: "192.168.1.5" }));
    assert.ok(own.ok);
    assert.equal(own.endpoint.address, "192.168.1.5");
    const fallback = endpointFromEntry(entry({ address: "" }));
    assert.ok(fallback.ok);
    assert.equal(fallback.endpoint.address, "10.0.0.1");
    const v6 = endpointFromEntry(entry({ address: "fd00::5" }));
    assert.ok(v6.ok);
  });

  test("defaults: default backend only, http, verify on, default timeout class", () => {
    const result = endpointFromEntry(entry());
    assert.ok(result.ok);
    assert.deepEqual(result.endpoint.settings, { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" });
  });

  test("precedence: service Meta > tags > Node Meta", () => {
    const result = endpointFromEntry(
      entry({
        meta: { haproxy_maxconn: "5" },
        tags: ["haproxy.maxconn=6", "haproxy.weight=7", "unrelated"],
        nodeMeta: { haproxy_maxconn: "8", haproxy_weight: "9", haproxy_pow: "only" },
      }),
    );
    assert.ok(result.ok);
    assert.equal(result.endpoint.settings.maxconn, 5);
    assert.equal(result.endpoint.settings.weight, 7);
    assert.equal(result.endpoint.settings.pow, "only");
  });

  test("the original tag forms still work", () => {
    const result = endpointFromEntry(entry({ tags: ["haproxy.pow=true", "haproxy.scheme=https", "haproxy.sslverify=0", "haproxy.pow_maxconn=1", "haproxy.timeout=slow"] }));
    assert.ok(result.ok);
    assert.deepEqual(result.endpoint.settings, { pow: "true", scheme: "https", sslVerify: false, powMaxconn: 1, timeoutClass: "slow" });
  });

  test("unknown haproxy keys are reported, not fatal", () => {
    const result = endpointFromEntry(entry({ meta: { haproxy_maxcon: "5" } }));
    assert.ok(result.ok);
    assert.deepEqual(result.ignoredKeys, ["meta:maxcon"]);
  });

  test("near-miss Meta keys and tag forms get a warning with a suggestion", () => {
    const result = endpointFromEntry(
      entry({
        meta: { haproxy_maxcon: "5", "HAProxy-weight": "3", haproxy_colour: "red", owner: "team-a" },
        tags: ["haproxy_maxconn=9", "haproxy.wieght=2", "haproxy.pow", "blue", "haproxy.scheme=https"],
        nodeMeta: { haproxy_timout: "fast" },
      }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.warnings, [
      'Meta "haproxy_maxcon": unknown haproxy setting, ignored; did you mean "haproxy_maxconn"?',
      'Meta "HAProxy-weight": not read (settings are haproxy_<key>); did you mean "haproxy_weight"?',
      'Meta "haproxy_colour": unknown haproxy setting, ignored; known settings: pow, maxconn, pow_maxconn, weight, scheme, sslverify, timeout, version',
      'tag "haproxy_maxconn=9": not read (the tag form is haproxy.<key>=<value>); did you mean "haproxy.maxconn=9"?',
      'tag "haproxy.wieght=2": unknown haproxy setting, ignored; did you mean "haproxy.weight=2"?',
      "tag \"haproxy.pow\": no '=' (the tag form is haproxy.<key>=<value>), ignored; did you mean \"haproxy.pow=<value>\"?",
      'Node Meta "haproxy_timout": unknown haproxy setting, ignored; did you mean "haproxy_timeout"?',
    ]);
    // Nothing said about well-formed settings or unrelated tags and Meta.
    const clean = endpointFromEntry(entry({ meta: { haproxy_maxconn: "5", owner: "x" }, tags: ["blue", "haproxy.weight=2"] }));
    assert.ok(clean.ok);
    assert.deepEqual(clean.warnings, []);
  });

  test("did you mean: case, '-' for '_', up to a third of the key's letters off; ties go to the earlier key", () => {
    assert.equal(closestSettingKey("MaxConn"), "maxconn");
    assert.equal(closestSettingKey("pow-maxconn"), "pow_maxconn");
    assert.equal(closestSettingKey("versoin"), "version", "two letters off a seven-letter key");
    assert.equal(closestSettingKey("pw"), "pow", "one letter off a three-letter key");
    assert.equal(closestSettingKey("px"), undefined, "two letters off a three-letter key is too far");
    assert.equal(closestSettingKey("wxyzht"), undefined, "three letters off");
    assert.equal(closestSettingKey("w_maxconn"), "maxconn", "two off maxconn and two off pow_maxconn: the table's order decides");
    assert.equal(closestSettingKey("ow_maxconn"), "pow_maxconn", "the closer one wins, not the earlier one");
    assert.equal(closestSettingKey("colour"), undefined);
  });

  test("ignored keys say where they were; near-miss tags without '=' and prefixes inside a key", () => {
    const result = endpointFromEntry(
      entry({
        meta: { "myhaproxy-weight": "3" },
        tags: ["haproxy.wieght=2", "haproxy-weight", "HAProxy.maxconn", "haproxy.weight: 5", "haproxy.colour"],
        nodeMeta: { haproxy_colour: "red" },
      }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.ignoredKeys, ["tag:wieght", "tag:weight: 5", "tag:colour", "node-meta:colour"]);
    assert.deepEqual(result.warnings, [
      'tag "haproxy.wieght=2": unknown haproxy setting, ignored; did you mean "haproxy.weight=2"?',
      'tag "haproxy-weight": not read (the tag form is haproxy.<key>=<value>); did you mean "haproxy.weight=<value>"?',
      'tag "HAProxy.maxconn": not read (the tag form is haproxy.<key>=<value>); did you mean "haproxy.maxconn=<value>"?',
      "tag \"haproxy.weight: 5\": no '=' (the tag form is haproxy.<key>=<value>), ignored; did you mean \"haproxy.weight=<value>\"?",
      "tag \"haproxy.colour\": no '=' (the tag form is haproxy.<key>=<value>), ignored",
      'Node Meta "haproxy_colour": unknown haproxy setting, ignored; known settings: pow, maxconn, pow_maxconn, weight, scheme, sslverify, timeout, version',
    ]);
  });

  // Values that must never reach the admin socket: each rejects the node,
  // naming the service ID, the key and the value.
  const hostile: [string, Parameters<typeof entry>[0], string][] = [
    ["command in maxconn", { tags: ["haproxy.maxconn=1; disable frontend iri_front"] }, "maxconn"],
    ["newline in weight", { meta: { haproxy_weight: "5\nshutdown sessions server be/s1" } }, "weight"],
    ["weight over 256", { meta: { haproxy_weight: "257" } }, "weight"],
    ["negative maxconn", { meta: { haproxy_maxconn: "-1" } }, "maxconn"],
    ["exponent", { meta: { haproxy_maxconn: "1e3" } }, "maxconn"],
    ["fraction", { meta: { haproxy_weight: "1.5" } }, "weight"],
    ["hex", { meta: { haproxy_weight: "0x10" } }, "weight"],
    ["space", { meta: { haproxy_weight: "1 0" } }, "weight"],
    ["unknown pow word", { meta: { haproxy_pow: "maybe" } }, "pow"],
    ["pow with command", { tags: ["haproxy.pow=true;show info"] }, "pow"],
    ["scheme", { meta: { haproxy_scheme: "ftp" } }, "scheme"],
    ["sslverify", { meta: { haproxy_sslverify: "perhaps" } }, "sslverify"],
    ["timeout class with space", { meta: { haproxy_timeout: "slow fast" } }, "timeout"],
    ["address with command", { address: "10.0.0.1; disable server be/s1" }, "address"],
    ["host name", { address: "node.example.com" }, "address"],
    ["address with port", { address: "10.0.0.1:80" }, "address"],
    ["address with newline", { address: "10.0.0.1\nshow info" }, "address"],
    ["address with zone", { address: "fe80::1%eth0" }, "address"],
    ["empty addresses", { address: "", nodeAddress: "" }, "address"],
    ["port zero", { port: 0 }, "port"],
    ["port too big", { port: 70000 }, "port"],
    ["node meta command", { nodeMeta: { haproxy_maxconn: "2;shutdown frontend fe" } }, "maxconn"],
  ];
  for (const [name, overrides, key] of hostile) {
    test(`hostile value rejected: ${name}`, () => {
      const result = endpointFromEntry(entry(overrides));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.rejection.serviceId, "svc-1");
      assert.equal(result.rejection.key, key);
      assert.ok(result.rejection.reason.length > 0);
    });
  }

  test("health folds every check; maintenance drains; real failures outrank maintenance", () => {
    const check = (CheckID: string, Status: string) => ({ CheckID, Name: CheckID, Status, ServiceID: "" });
    assert.equal(foldHealth([check("serfHealth", "passing"), check("svc", "passing")]), "passing");
    assert.equal(foldHealth([check("serfHealth", "passing"), check("svc", "warning")]), "warning");
    assert.equal(foldHealth([check("serfHealth", "critical"), check("svc", "passing")]), "critical");
    assert.equal(foldHealth([check("_service_maintenance:svc-1", "critical"), check("svc", "passing")]), "maintenance");
    assert.equal(foldHealth([check("_node_maintenance", "critical")]), "maintenance");
    assert.equal(foldHealth([check("_node_maintenance", "critical"), check("svc", "critical")]), "critical");
    assert.equal(foldHealth([check("svc", "bogus")]), "critical");
    assert.equal(foldHealth([]), "passing");
  });

  test("malformed health entries are refused, not guessed at", () => {
    assert.equal(parseHealthEntry(null).ok, false);
    assert.equal(parseHealthEntry({ Node: {}, Service: {} }).ok, false);
    assert.equal(parseHealthEntry({ Node: {}, Service: { ID: "x" }, Checks: "no" }).ok, false);
    const parsed = parseHealthEntry({ Node: { Node: "n", Address: "10.0.0.1", Meta: { a: 1 } }, Service: { ID: "x", Port: "80", Tags: [1, "t"] }, Checks: [] });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.entry.Node.Meta, {});
    assert.deepEqual(parsed.entry.Service.Tags, ["t"]);
    // A port given as a string is not a port.
    assert.equal(endpointFromEntry(parsed.entry).ok, false);
  });
});
