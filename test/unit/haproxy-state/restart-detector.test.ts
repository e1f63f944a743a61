import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RestartDetector } from "../../../handler/haproxy-state/restart-detector.js";

describe("HAProxy restart detector", () => {
  test("the first answer and the same process growing older are no restart", () => {
    const detector = new RestartDetector();
    assert.deepEqual(detector.observe({ pid: 10, uptimeSeconds: 5 }), { kind: "same" });
    assert.deepEqual(detector.observe({ pid: 10, uptimeSeconds: 6 }), { kind: "same" });
  });

  test("a new Pid is a reload; a smaller uptime with the same Pid is a restart (a container's Pid 1, say)", () => {
    const detector = new RestartDetector();
    detector.observe({ pid: 10, uptimeSeconds: 50 });
    assert.deepEqual(detector.observe({ pid: 11, uptimeSeconds: 51 }), { kind: "restarted", pid: 11, previousPid: 10 });
    assert.deepEqual(detector.observe({ pid: 11, uptimeSeconds: 2 }), { kind: "restarted", pid: 11, previousPid: 11 });
    assert.deepEqual(detector.observe({ pid: 11, uptimeSeconds: 3 }), { kind: "same" });
  });

  test("no answer after answers: lost, and whatever answers next is a restart, even the same Pid", () => {
    const detector = new RestartDetector();
    assert.deepEqual(detector.observeFailure(), { kind: "not-yet" }, "nothing known yet: nothing lost");
    detector.observe({ pid: 10, uptimeSeconds: 50 });
    assert.deepEqual(detector.observeFailure(), { kind: "lost" });
    assert.deepEqual(detector.observeFailure(), { kind: "lost" });
    assert.deepEqual(detector.observe({ pid: 10, uptimeSeconds: 60 }), { kind: "restarted", pid: 10, previousPid: -1 });
  });

  test("reset forgets the process: the next answer is a first answer", () => {
    const detector = new RestartDetector();
    detector.observe({ pid: 10, uptimeSeconds: 50 });
    detector.reset();
    assert.deepEqual(detector.observe({ pid: 99, uptimeSeconds: 1 }), { kind: "same" });
  });
});
