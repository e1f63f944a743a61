import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyChange, compareRenderings, renderingDiff } from "../../../handler/portmap/change.js";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import type { LoadBalancerSpec } from "../../../handler/portmap/spec.js";
import { portmapChange } from "../../../handler/reconcile/portmap-policy.js";

function spec(portmap: string, more: Record<string, string> = {}): LoadBalancerSpec {
  return parsePortmapKv(new Map(Object.entries({ portmap, ...more })));
}

const BASE = "http://80:web http://80:api{path:/api/} tcp://5432:db";

describe("what a portmap change needs", () => {
  test("nothing changed, or only the order, health or certificate names: membership only", () => {
    assert.deepEqual(classifyChange(spec(BASE), spec(BASE)), { kind: "membership", changed: [] });
    assert.equal(classifyChange(spec(BASE), spec("tcp://5432:db http://80:api{path:/api/},http://80:web")).kind, "membership");
    assert.equal(classifyChange(spec(BASE), spec("http://80:web{health:warning} http://80:api{path:/api/} tcp://5432:db")).kind, "membership");
    assert.equal(classifyChange(spec(BASE), spec(BASE, { certificate_name: "example.com" })).kind, "membership");
  });

  test("only the ACME keys: membership only, no reload (the CA is the certificate module's, not HAProxy's)", () => {
    const acme = { acme_directory: "https://acme-staging-v02.api.letsencrypt.org/directory", acme_email: "ops@example.com", acme_ca_file: "/etc/ssl/private-ca.pem" };
    assert.deepEqual(classifyChange(spec(BASE), spec(BASE, acme)), { kind: "membership", changed: [] });
    assert.deepEqual(classifyChange(spec(BASE, acme), spec(BASE, { acme_email: "other@example.com" })), { kind: "membership", changed: [] });
    assert.equal(portmapChange(spec(BASE), spec(BASE, acme)), "none");
  });

  test("only host/path routes between existing backends: the maps, no reload", () => {
    assert.deepEqual(classifyChange(spec(BASE), spec("http://80:web http://80:api{path:/v1/} tcp://5432:db")), { kind: "routes", changed: ["pm_80_path.map"] });
    assert.deepEqual(classifyChange(spec(BASE), spec("http://80:web http://80:api{host:api.example.com} tcp://5432:db")), { kind: "routes", changed: ["pm_80_host.map", "pm_80_path.map"] });
    assert.equal(classifyChange(spec(BASE), spec("http://80:web{path:/w/} http://80:api tcp://5432:db")).kind, "routes");
  });

  test("listeners, backends, algorithm, check, mode, stickiness, slots, timeouts: a reload, naming the sections", () => {
    const reloads: [string, string[], Record<string, string>?][] = [
      [`${BASE} tcp://5433:db2`, ["backend pm_5433_db2", "frontend pm_fe_5433"]],
      ["http://80:web tcp://5432:db", ["backend pm_80_api"]],
      ["http://80:web{balance:roundrobin} http://80:api{path:/api/} tcp://5432:db", ["backend pm_80_web"]],
      ["http://80:web{check:/health} http://80:api{path:/api/} tcp://5432:db", ["backend pm_80_web"]],
      ["http://80:web{rise:4} http://80:api{path:/api/} tcp://5432:db", ["backend pm_80_web"]],
      ["http://80:web http://80:api{path:/api/} tcp-proxy-v2://5432:db", ["backend pm_5432_db"]],
      ["http://80:web{sticky:cookie} http://80:api{path:/api/} tcp://5432:db", ["backend pm_80_web"]],
      ["http://80:web{slots:4} http://80:api{path:/api/} tcp://5432:db", ["backend pm_80_web"]],
      ["http://80:web http://80:api{path:/api/,upgrade:websocket} tcp://5432:db", ["frontend pm_fe_80"]],
      ["http://80:web http://80:api{path:/api/} tcp://5432:db:6432", ["backend pm_5432_db"]],
      [BASE, ["backend pm_5432_db", "backend pm_80_api", "backend pm_80_web"], { timeouts: "{server: 1000}" }],
      [BASE, ["frontend pm_metrics"], { metrics_acl: "10.0.0.0/8" }],
      [BASE, ["frontend pm_fe_5432", "frontend pm_fe_80"], { syslog: "10.0.0.5:514" }],
    ];
    for (const [portmap, changed, more] of reloads) {
      assert.deepEqual(classifyChange(spec(BASE), spec(portmap, more)), { kind: "reload", changed }, portmap);
    }
  });

  test("max_rs reloads only the backends that take it", () => {
    assert.equal(classifyChange(spec("http://80:web{slots:8}"), spec("http://80:web{slots:8}", { max_rs: "64" })).kind, "membership");
    assert.deepEqual(classifyChange(spec(BASE), spec(BASE, { max_rs: "64" })).changed, ["backend pm_5432_db", "backend pm_80_api", "backend pm_80_web"]);
  });

  test("a listener added after the last section names only its own sections (the last one carries the file's newline)", () => {
    assert.deepEqual(classifyChange(spec("tcp://5432:db"), spec("tcp://5432:db tcp://6000:cache")), { kind: "reload", changed: ["backend pm_6000_cache", "frontend pm_fe_6000"] });
  });

  test("the diff names each changed section or map with the lines it removes and adds", () => {
    const options = { bindAddress: "", certDirectory: "/certs", mapDirectory: "/maps", dynamicCookieKey: "key" };
    const render = (portmap: string) => renderLoadBalancer(spec(portmap), options);
    const [before, after] = [render("tcp://5432:db"), render("tcp://5432:db{balance:roundrobin}")];
    assert.deepEqual(renderingDiff(before, after, compareRenderings(before, after)), ["backend pm_5432_db", "-     balance leastconn", "+     balance roundrobin"]);
    const [web, moved] = [render("http://80:web http://80:api{path:/api/}"), render("http://80:web http://80:api{path:/v2/}")];
    assert.deepEqual(renderingDiff(web, moved, compareRenderings(web, moved)), ["pm_80_path.map", "- /api/ pm_80_api", "+ /v2/ pm_80_api"]);
  });

  test("a portmap that empties: every section goes", () => {
    assert.deepEqual(classifyChange(spec("tcp://5432:db"), spec("")), { kind: "reload", changed: ["backend pm_5432_db", "frontend pm_fe_5432"] });
  });
});
