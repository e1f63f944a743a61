import { test } from "node:test";
import assert from "node:assert/strict";
import { checkOutputReason } from "../../../handler/lb/haproxy-check.js";

test("a refused check quotes HAProxy's alerts, not its notices", () => {
  const output = [
    "[NOTICE]   (47332) : haproxy version is 2.6.12-1+deb12u4",
    "[NOTICE]   (47332) : path to executable is /usr/sbin/haproxy",
    "[ALERT]    (47332) : config : parsing [portmap.cfg.next:27] : 'bind :18443' : unable to stat SSL certificate from file '/etc/haproxy/certs' : Permission denied.",
    "[WARNING]  (47332) : config : something else",
    "[ALERT]    (47332) : config : Fatal errors found in configuration.",
    "",
  ].join("\n");
  assert.equal(
    checkOutputReason(output),
    "[ALERT]    (47332) : config : parsing [portmap.cfg.next:27] : 'bind :18443' : unable to stat SSL certificate from file '/etc/haproxy/certs' : Permission denied. | [ALERT]    (47332) : config : Fatal errors found in configuration.",
  );
});

test("without an alert, the last lines are quoted", () => {
  assert.equal(checkOutputReason("a\nb\n\nc\nd\ne\nf\ng\n"), "b | c | d | e | f | g");
  assert.equal(checkOutputReason(""), "");
});

test("a long reason is cut at 1,500 characters", () => {
  assert.equal(checkOutputReason(`[ALERT] ${"x".repeat(3000)}`).length, 1500);
});
