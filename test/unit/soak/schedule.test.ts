// The soak's schedule: replayable from its seed, and never two faults on one
// resource at once (one HAProxy, one fault proxy, one Consul server down).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { describeFault, drawSchedule, FAULT_KINDS, prng, type Segment } from "../../soak/schedule.js";

const options = { seed: 42, segments: 12, segmentMs: 20_000, churnNodes: 10, initiallyRegistered: [0, 2, 4, 6, 8] };

function flatten(segments: Segment[]): string[] {
  return segments.flatMap((segment, index) => segment.steps.map((step) => `${index} ${step.at} ${step.action} ${describeFault(step.fault)}`));
}

describe("soak schedule", () => {
  test("the same seed draws the same schedule; another seed another", () => {
    assert.deepEqual(flatten(drawSchedule(options)), flatten(drawSchedule(options)));
    assert.notDeepEqual(flatten(drawSchedule(options)), flatten(drawSchedule({ ...options, seed: 43 })));
    assert.deepEqual([prng(7)(), prng(7)()], [prng(7)(), prng(7)()]);
    assert.notEqual(prng(7)(), prng(8)());
  });

  test("every kind of fault is drawn over a long run", () => {
    const kinds = new Set(drawSchedule({ ...options, segments: 200 }).flatMap((segment) => segment.steps.map((step) => step.fault.kind)));
    assert.deepEqual([...kinds].sort(), [...FAULT_KINDS].sort());
  });

  test("the handler is killed at most once every 30 minutes of schedule, so that one of its lives is long enough to judge", () => {
    const segments = drawSchedule({ ...options, segments: 400 });
    const kills = segments.flatMap((segment, index) => segment.steps.filter((step) => step.action === "start" && step.fault.kind === "handler-kill").map((step) => index * options.segmentMs + step.at));
    assert.ok(kills.length >= 2, `killed ${kills.length} times in ${(400 * options.segmentMs) / 60_000} minutes`);
    for (let index = 1; index < kills.length; index += 1) assert.ok((kills[index] ?? 0) - (kills[index - 1] ?? 0) >= 30 * 60_000, `kills at ${kills.join(", ")}`);
  });

  test("a fault that lasts ends inside its segment, after it started; steps are in time order", () => {
    for (const segment of drawSchedule({ ...options, segments: 100 })) {
      const startedAt = new Map<number, number>();
      let previous = -1;
      for (const step of segment.steps) {
        assert.ok(step.at >= previous, "steps in time order");
        previous = step.at;
        if (step.action === "start") startedAt.set(step.fault.number, step.at);
        else {
          const started = startedAt.get(step.fault.number);
          assert.ok(started !== undefined && started <= step.at, `fault #${step.fault.number} ends after it started`);
          assert.ok(step.at < options.segmentMs, "ends inside the segment");
        }
      }
    }
  });

  test("two faults on one resource never overlap; node faults apply to a node in the right state", () => {
    const resourceOf = (kind: string): string =>
      kind.startsWith("proxy-") ? "proxy" : kind.startsWith("haproxy-") ? "haproxy" : kind === "leader-kill" ? "consul-server" : kind === "agent-restart" ? "lb-agent" : kind === "handler-kill" ? "handler" : kind === "slots-read-only" ? "slots-dir" : "node";
    const registered = new Set(options.initiallyRegistered);
    for (const segment of drawSchedule({ ...options, segments: 100 })) {
      const busy = new Set<string>();
      for (const step of segment.steps) {
        const resource = step.fault.node === undefined ? resourceOf(step.fault.kind) : `node ${step.fault.node}`;
        const lasting = segment.steps.some((other) => other.action === "end" && other.fault.number === step.fault.number);
        if (step.action === "end") {
          busy.delete(resource);
          continue;
        }
        assert.ok(!busy.has(resource), `${describeFault(step.fault)} while ${resource} is busy`);
        if (lasting) busy.add(resource);
        if (step.fault.kind === "register") {
          assert.ok(!registered.has(step.fault.node ?? -1), `register of a registered node: ${describeFault(step.fault)}`);
          registered.add(step.fault.node ?? -1);
        } else if (step.fault.node !== undefined) {
          assert.ok(registered.has(step.fault.node), `${describeFault(step.fault)} on a node that is not registered`);
          if (step.fault.kind === "deregister") registered.delete(step.fault.node);
        }
      }
    }
  });
});
