import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { applySetting, isSettingKey, NODE_SETTING_KEYS, SETTING_KEYS, type SettingKey } from "../../../handler/source/setting-keys.js";
import { endpointFromEntry } from "../../../handler/source/node-settings.js";
import type { ConsulHealthEntry } from "../../../handler/source/health-entry.js";
import type { NodeSettings } from "../../../handler/planner/model.js";
import { MAXCONN, WEIGHT } from "../../../handler/haproxy-runtime-api/index.js";

const defaults = (): NodeSettings => ({ pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default" });

function entry(meta: Record<string, string>, tags: string[] = []): ConsulHealthEntry {
  return {
    Node: { Node: "node-1", Address: "10.0.0.1", Meta: {} },
    Service: { ID: "svc-1", Service: "iri", Address: "", Port: 14265, Tags: tags, Meta: meta },
    Checks: [],
  };
}

// One good and one bad text per key. Typed by SettingKey: a key added to the
// table without its cases here does not compile.
const cases = {
  pow: { good: "only", settings: { pow: "only" }, bad: "maybe", reason: "expected true, false or only" },
  maxconn: { good: "7", settings: { maxconn: 7 }, bad: "7;", reason: "expected a whole number from 0 to 1000000" },
  pow_maxconn: { good: "8", settings: { powMaxconn: 8 }, bad: "-8", reason: "expected a whole number from 0 to 1000000" },
  weight: { good: "20", settings: { weight: 20 }, bad: "2.0", reason: "expected a whole number from 0 to 256" },
  scheme: { good: "https", settings: { scheme: "https" }, bad: "ftp", reason: "expected http or https" },
  sslverify: { good: "off", settings: { sslVerify: false }, bad: "maybe", reason: "expected true or false (or 1/0)" },
  timeout: { good: "slow", settings: { timeoutClass: "slow" }, bad: "Slow", reason: "expected a timeout class name (a-z, 0-9, '_' or '-')" },
  version: {
    good: "1.4.2",
    settings: { version: "1.4.2" },
    bad: "1.4",
    reason: "expected a semantic version MAJOR.MINOR.PATCH with an optional pre-release (1.4.2, 2.0.0-rc.1), at most 64 characters",
  },
} satisfies Record<SettingKey, { good: string; settings: Partial<NodeSettings>; bad: string; reason: string }>;

describe("per-node setting keys", () => {
  test("the table lists every key once, in the documented order", () => {
    assert.deepEqual([...SETTING_KEYS], ["pow", "maxconn", "pow_maxconn", "weight", "scheme", "sslverify", "timeout", "version"]);
    assert.deepEqual(Object.keys(cases).sort(), [...SETTING_KEYS].sort());
    for (const key of SETTING_KEYS) assert.equal(isSettingKey(key), true, key);
    for (const other of ["", "Weight", "max_conn", "toString", "__proto__", "constructor"]) assert.equal(isSettingKey(other), false, other);
  });

  for (const key of SETTING_KEYS) {
    const { good, settings, bad, reason: expectedReason } = cases[key];
    test(`${key}: read from Meta, tag and Node Meta into its field; a bad value names what is expected`, () => {
      const expected = { ...defaults(), ...settings };
      const applied = defaults();
      assert.equal(applySetting(applied, key, good), undefined);
      assert.deepEqual(applied, expected);
      for (const form of [entry({ [`haproxy_${key}`]: good }), entry({}, [`haproxy.${key}=${good}`]), { ...entry({}), Node: { Node: "n", Address: "10.0.0.1", Meta: { [`haproxy_${key}`]: good } } }]) {
        const result = endpointFromEntry(form);
        assert.ok(result.ok, JSON.stringify(form));
        assert.deepEqual(result.endpoint.settings, expected);
      }
      const untouched = defaults();
      const reason = applySetting(untouched, key, bad);
      assert.equal(reason, expectedReason, `${key}=${bad}`);
      assert.deepEqual(untouched, defaults(), "a refused value changes nothing");
      const rejected = endpointFromEntry(entry({ [`haproxy_${key}`]: bad }));
      assert.deepEqual(rejected, { ok: false, rejection: { serviceId: "svc-1", key, value: bad, reason } });
    });
  }

  test("weight and maxconn: the runtime client's limits, bounds included", () => {
    const check = (key: SettingKey, text: string) => applySetting(defaults(), key, text);
    assert.equal(check("weight", String(WEIGHT.max)), undefined);
    assert.equal(check("weight", String(WEIGHT.min)), undefined);
    assert.equal(check("weight", String(WEIGHT.max + 1)), "expected a whole number from 0 to 256");
    for (const key of ["maxconn", "pow_maxconn"] as const) {
      assert.equal(check(key, String(MAXCONN.max)), undefined);
      assert.equal(check(key, "0"), undefined);
      assert.equal(check(key, String(MAXCONN.max + 1)), "expected a whole number from 0 to 1000000");
    }
    // Digits only: Number() alone would take these.
    for (const text of ["", " 5", "5 ", "+5", "0x10", "1e2", "1.0", "12345678"]) assert.equal(check("weight", text), "expected a whole number from 0 to 256", JSON.stringify(text));
  });

  test("where each key applies", () => {
    assert.deepEqual(Object.fromEntries(SETTING_KEYS.map((key) => [key, NODE_SETTING_KEYS[key].appliesTo])), {
      pow: "both backends",
      maxconn: "default backend",
      pow_maxconn: "PoW backend",
      weight: "both backends",
      scheme: "slot class",
      sslverify: "slot class",
      timeout: "slot class",
      version: "versioning",
    });
  });

  test("the words of booleans, pow and scheme", () => {
    const read = (key: SettingKey, text: string): NodeSettings | string => {
      const settings = defaults();
      return applySetting(settings, key, text) ?? settings;
    };
    for (const text of ["true", "1", "yes", "on"]) {
      assert.equal((read("sslverify", text) as NodeSettings).sslVerify, true, text);
      assert.equal((read("pow", text) as NodeSettings).pow, "true", text);
    }
    for (const text of ["false", "0", "no", "off"]) {
      const settings: NodeSettings = { ...defaults(), sslVerify: true, pow: "only" };
      assert.equal(applySetting(settings, "sslverify", text), undefined, text);
      assert.equal(applySetting(settings, "pow", text), undefined, text);
      assert.deepEqual([settings.sslVerify, settings.pow], [false, "false"], text);
    }
    for (const text of ["TRUE", "True", "y", "2", ""]) assert.equal(read("sslverify", text), "expected true or false (or 1/0)", JSON.stringify(text));
    const scheme: NodeSettings = { ...defaults(), scheme: "https" };
    assert.equal(applySetting(scheme, "scheme", "http"), undefined);
    assert.equal(scheme.scheme, "http");
    assert.equal(read("scheme", "HTTPS"), "expected http or https");
  });
});
