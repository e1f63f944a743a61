import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { portmapBackends, portmapChange, watchedSelections } from "../../../handler/reconcile/portmap-policy.js";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import type { ServiceConfig } from "../../../handler/config/config.js";

const spec = (portmap: string) => parsePortmapKv(new Map([["portmap", portmap]]));

describe("the portmap as the planner's backends", () => {
  test("one backend per entry: every node, the entry's port and health", () => {
    const backends = portmapBackends(spec("http://80:web tcp://5432:db:6432{health:warning}"));
    assert.deepEqual(
      backends.map((backend) => [backend.backend, backend.serviceName, backend.everyNode, backend.port, backend.warningAs, backend.classes.map((slotClass) => slotClass.prefix)]),
      [
        ["pm_80_web", "web", true, undefined, "drain", ["pm"]],
        ["pm_5432_db", "db", true, 6432, "ready", ["pm"]],
      ],
    );
  });

  test("watched services: the configured ones, then the portmap's, each selection once", () => {
    const services = [{ name: "web" }, { name: "iri", tag: "x" }] as ServiceConfig[];
    assert.deepEqual(watchedSelections({ services }, spec("http://80:web http://81:iri tcp://82:db")), [{ name: "web" }, { name: "iri", tag: "x" }, { name: "iri" }, { name: "db" }]);
    assert.deepEqual(watchedSelections({ services }, undefined), services);
  });

  test("a change: none when the backends are the same, held when every entry goes at once, else apply", () => {
    const applied = spec("http://80:web tcp://5432:db");
    assert.equal(portmapChange(applied, spec("tcp://5432:db,http://80:web")), "none", "order");
    assert.equal(portmapChange(applied, spec("http://80:web{balance:roundrobin} tcp://5432:db")), "none", "a render-only option");
    assert.equal(portmapChange(applied, spec("http://80:web")), "apply");
    assert.equal(portmapChange(applied, spec("http://80:web{health:warning} tcp://5432:db")), "apply");
    assert.equal(portmapChange(applied, spec("http://80:web tcp://5432:db:6000")), "apply");
    assert.equal(portmapChange(applied, spec("")), "held");
    assert.equal(portmapChange(undefined, spec("")), "none");
    assert.equal(portmapChange(undefined, applied), "apply");
  });
});
