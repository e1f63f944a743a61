import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HandlerMetrics } from "../../../handler/metrics/handler-metrics.js";
import { recordVersionMetrics } from "../../../handler/metrics/version-metrics.js";
import type { Plan, VersionDecision } from "../../../handler/planner/model.js";

function plan(versions: VersionDecision[]): Plan {
  return { steps: [], leftOut: [], draining: 0, usage: [], versions };
}

describe("metrics: versions", () => {
  test("the serving generation per service is a gauge; a switch counts once per plan", async () => {
    const metrics = new HandlerMetrics();
    recordVersionMetrics(metrics, plan([{ serviceName: "iri", serving: "1.0.x", generations: [], members: new Map() }]));
    assert.match(await metrics.registry.render(), /^consul_haproxy_handler_serving_version\{service="iri",version="1\.0\.x"\} 1$/m);
    recordVersionMetrics(metrics, plan([{ serviceName: "iri", serving: "1.1.x", previous: "1.0.x", switchReason: "promoted", generations: [], members: new Map() }]));
    const text = await metrics.registry.render();
    assert.match(text, /^consul_haproxy_handler_serving_version\{service="iri",version="1\.1\.x"\} 1$/m);
    assert.doesNotMatch(text, /version="1\.0\.x"/, "the old generation's series is gone");
    assert.match(text, /^consul_haproxy_handler_version_switches_total\{service="iri"\} 1$/m);
  });
});
