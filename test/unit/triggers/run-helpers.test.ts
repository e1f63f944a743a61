import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, CoalescingRunner, nextIndex } from "../../../handler/triggers/run.js";
import { Counter, Gauge, Histogram, Registry } from "../../../handler/metrics/registry.js";

describe("run helpers", () => {
  test("coalescing: many triggers -> one running and one waiting, none lost", async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    let release: () => void = () => undefined;
    const runner = new CoalescingRunner(async () => {
      runs += 1;
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
      concurrent -= 1;
    });
    runner.trigger();
    await new Promise((resolve) => setImmediate(resolve));
    // The first run is in progress: 100 triggers now queue exactly one more.
    for (let i = 0; i < 100; i += 1) runner.trigger();
    release();
    await runner.idle();
    assert.equal(runs, 2);
    assert.equal(maxConcurrent, 1);
    // A trigger after everything settled runs again (nothing is lost).
    runner.trigger();
    await runner.idle();
    assert.equal(runs, 3);
  });

  test("Consul index rules: never below 1, backwards resets", () => {
    assert.equal(nextIndex(0, 15), 15);
    assert.equal(nextIndex(15, 15), 15);
    assert.equal(nextIndex(15, 20), 20);
    assert.equal(nextIndex(20, 7), 0);
    assert.equal(nextIndex(20, 0), 0);
    assert.equal(nextIndex(20, Number.NaN), 0);
  });

  test("backoff grows, is jittered and capped", () => {
    assert.equal(backoffDelay(1, () => 0), 100);
    assert.equal(backoffDelay(1, () => 1), 200);
    assert.equal(backoffDelay(3, () => 1), 800);
    assert.equal(backoffDelay(50, () => 1), 1_000, "capped at 1 s: Consul is probed every second while down");
    assert.equal(backoffDelay(50, () => 0), 500);
    assert.equal(backoffDelay(50, () => 1, 30_000), 30_000);
  });

  test("metrics render as Prometheus text through prom-client, with the program's prefix", async () => {
    const registry = new Registry({ defaultMetrics: false });
    const counter = registry.register(new Counter("x_total", "Things."));
    const gauge = registry.register(new Gauge("consul_haproxy_handler_y", "Level."));
    const histogram = registry.register(new Histogram("z_seconds", "Time.", [0.1, 1]));
    const known = registry.register(new Counter("k_total", "Known.", [{ result: "ok" }, { result: "failed" }]));
    counter.inc({ cause: 'a"b' });
    gauge.set(3, { backend: "be" });
    histogram.observe(0.05);
    histogram.observe(5);
    known.inc({ result: "ok" }, 2);
    assert.equal(counter.get({ cause: 'a"b' }), 1);
    assert.equal(gauge.get({ backend: "be" }), 3);
    assert.equal(
      await registry.render(),
      [
        "# HELP consul_haproxy_handler_x_total Things.",
        "# TYPE consul_haproxy_handler_x_total counter",
        'consul_haproxy_handler_x_total{cause="a\\"b"} 1',
        "",
        "# HELP consul_haproxy_handler_y Level.",
        "# TYPE consul_haproxy_handler_y gauge",
        'consul_haproxy_handler_y{backend="be"} 3',
        "",
        "# HELP consul_haproxy_handler_z_seconds Time.",
        "# TYPE consul_haproxy_handler_z_seconds histogram",
        'consul_haproxy_handler_z_seconds_bucket{le="0.1"} 1',
        'consul_haproxy_handler_z_seconds_bucket{le="1"} 1',
        'consul_haproxy_handler_z_seconds_bucket{le="+Inf"} 2',
        "consul_haproxy_handler_z_seconds_sum 5.05",
        "consul_haproxy_handler_z_seconds_count 2",
        "",
        "# HELP consul_haproxy_handler_k_total Known.",
        "# TYPE consul_haproxy_handler_k_total counter",
        'consul_haproxy_handler_k_total{result="ok"} 2',
        'consul_haproxy_handler_k_total{result="failed"} 0',
        "",
      ].join("\n"),
    );
  });
});
