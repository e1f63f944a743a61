import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  commands,
  describeRange,
  isIpLiteral,
  isKeyword,
  isName,
  isWithin,
  KEYWORD_PATTERN,
  MAXCONN,
  NAME_PATTERN,
  PORT,
  WEIGHT,
} from "../../../handler/haproxy-runtime-api/index.js";

describe("runtime API limits", () => {
  test("the ranges HAProxy and the handler use", () => {
    assert.deepEqual({ ...WEIGHT }, { min: 0, max: 256 });
    assert.deepEqual({ ...MAXCONN }, { min: 0, max: 1_000_000 });
    assert.deepEqual({ ...PORT }, { min: 1, max: 65535 });
    assert.ok(Object.isFrozen(WEIGHT) && Object.isFrozen(MAXCONN) && Object.isFrozen(PORT), "nobody can widen a limit at run time");
    assert.equal(describeRange(WEIGHT), "a whole number from 0 to 256");
  });

  test("isWithin: whole numbers from min to max, bounds included", () => {
    for (const range of [WEIGHT, MAXCONN, PORT]) {
      assert.equal(isWithin(range.min, range), true, `min of ${describeRange(range)}`);
      assert.equal(isWithin(range.max, range), true, `max of ${describeRange(range)}`);
      assert.equal(isWithin(range.min - 1, range), false, `below ${describeRange(range)}`);
      assert.equal(isWithin(range.max + 1, range), false, `above ${describeRange(range)}`);
    }
    for (const notWhole of [1.5, Number.NaN, Number.POSITIVE_INFINITY, "1", null, undefined]) assert.equal(isWithin(notWhole, WEIGHT), false, String(notWhole));
  });

  test("isName: letters, digits, '_', '.', ':', '-', 1 to 64 characters", () => {
    for (const good of ["be", "main_back", "a.b:c-d_9", "x".repeat(64)]) assert.equal(isName(good), true, good);
    for (const bad of ["", "x".repeat(65), "a b", "be;show info", "be\nx", "be/x", "bé", 7, undefined]) assert.equal(isName(bad), false, JSON.stringify(bad));
    assert.equal(NAME_PATTERN.test("be"), true);
  });

  test("isKeyword: also '/', at most 128 characters", () => {
    for (const good of ["check", "2s", "/etc/ssl/ca.pem", "x".repeat(128)]) assert.equal(isKeyword(good), true, good);
    for (const bad of ["", "inter 2s", "check;", "x".repeat(129), 1]) assert.equal(isKeyword(bad), false, JSON.stringify(bad));
    assert.equal(KEYWORD_PATTERN.test("a/b"), true);
  });

  test("isIpLiteral: IPv4 and IPv6 literals without a zone", () => {
    for (const good of ["10.0.0.1", "fd00::1", "::ffff:10.0.0.1"]) assert.equal(isIpLiteral(good), true, good);
    for (const bad of ["fe80::1%eth0", "example.com", "10.0.0.1:80", "10.0.0.1 ", "01.2.3.4", "", 167772161]) assert.equal(isIpLiteral(bad), false, JSON.stringify(bad));
  });

  test("every value the validators accept builds a command, every value they refuse is refused", () => {
    for (const weight of [WEIGHT.min, WEIGHT.max]) assert.doesNotThrow(() => commands.setServerWeight("be", "s1", weight));
    for (const maxconn of [MAXCONN.min, MAXCONN.max]) assert.doesNotThrow(() => commands.setServerMaxconn("be", "s1", maxconn));
    for (const port of [PORT.min, PORT.max]) assert.doesNotThrow(() => commands.setServerAddr("be", "s1", "10.0.0.1", port));
    assert.throws(() => commands.setServerWeight("be", "s1", WEIGHT.max + 1), /weight 257 is not a whole number from 0 to 256/);
    assert.throws(() => commands.setServerMaxconn("be", "s1", MAXCONN.max + 1), /maxconn 1000001 is not a whole number from 0 to 1000000/);
    assert.throws(() => commands.setServerAddr("be", "s1", "10.0.0.1", PORT.max + 1), /port 65536 is not a whole number from 1 to 65535/);
    assert.throws(() => commands.setServerAddr("be", "s1", "fe80::1%eth0", 80), /address "fe80::1%eth0" is not an IPv4 or IPv6 literal/);
    assert.throws(() => commands.setServerWeight("b e", "s1", 1), /backend "b e" is not a name of letters, digits/);
    assert.throws(() => commands.addServer("be", "s1", "10.0.0.1", 80, ["inter 2s"]), /keyword "inter 2s" is not a server keyword or value/);
  });
});
