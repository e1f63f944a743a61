// The benchmarks' own pure helpers: a figure is only as good as its parse.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inMaint, parseWrk, percentile, serverStates, statRows } from "../../../bench/lib.js";

const WRK_SUMMARY = `Running 15s test @ http://127.0.0.1:8080/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms    0.50ms  20.00ms   90.00%
  65932 requests in 15.00s, 10.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:   4395.46
Transfer/sec:    682.00KB
`;

describe("bench helpers", () => {
  test("percentile is nearest rank: the smallest value with at least that share at or below it", () => {
    assert.equal(percentile([4, 1, 3, 2], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4, 5], 0.5), 3);
    assert.equal(percentile(Array.from({ length: 100 }, (_, index) => index + 1), 0.99), 99);
    assert.equal(percentile([5, 9], 0.99), 9);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  test("wrk's summary is parsed; a run without one, with a failed exit or without requests is an error", () => {
    assert.deepEqual(
      (({ requests, non2xx, socketErrors }) => ({ requests, non2xx, socketErrors }))(parseWrk(WRK_SUMMARY)),
      { requests: 65932, non2xx: 7, socketErrors: "connect 0, read 3, write 0, timeout 0" },
    );
    assert.throws(() => parseWrk(""), /did not finish with a summary/);
    assert.throws(() => parseWrk("Running 15s test @ http://127.0.0.1:8080/\n"), /did not finish with a summary/);
    assert.throws(() => parseWrk(WRK_SUMMARY, 1), /exit 1/);
    assert.throws(() => parseWrk(WRK_SUMMARY, null), /exit null/);
    assert.throws(() => parseWrk(WRK_SUMMARY.replace("65932 requests", "0 requests")), /no request/);
  });

  test("show stat rows by header name; show servers state rows with the MAINT bits", () => {
    const [row] = statRows("# pxname,svname,status,addr\nbe1,srv2,DOWN,127.0.0.5:3000\n\n");
    assert.deepEqual(row, { pxname: "be1", svname: "srv2", status: "DOWN", addr: "127.0.0.5:3000" });
    const states = serverStates(
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n" +
        "2 be1 1 srv1 0.0.0.0 0 5 1 1 0 1 0 0 14 0 0 0 - 80 - 0 0 - - 0\n" +
        "2 be1 2 srv2 127.0.0.5 0 12 7 1 0 1 0 0 6 0 0 0 - 3000 - 0 0 - - 0\n" +
        "2 be1 3 srv3 127.0.0.6 2 32 1 1 0 1 0 0 6 0 0 0 - 3000 - 0 0 - - 0\n",
    );
    assert.deepEqual(
      states.map((state) => [state.id, state.name, state.address, state.port, state.userWeight, inMaint(state)]),
      [
        [1, "srv1", "0.0.0.0", 80, 1, true],
        // 12 = config-disabled (0x04, stays set on 2.6) + forced drain (0x08): not MAINT.
        [2, "srv2", "127.0.0.5", 3000, 7, false],
        // 32 = resolution MAINT (DNS discovery).
        [3, "srv3", "127.0.0.6", 3000, 1, true],
      ],
    );
  });
});
