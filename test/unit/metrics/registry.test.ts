import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "../../../handler/metrics/registry.js";

describe("metrics registry", () => {
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
