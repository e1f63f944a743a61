import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer, type RenderOptions } from "../../../handler/portmap/render.js";

const OPTIONS: RenderOptions = { bindAddress: "127.0.0.1", certDirectory: "/etc/haproxy/certs", mapDirectory: "/etc/haproxy/maps", dynamicCookieKey: "s3cret" };

function render(keys: Record<string, string>, options: RenderOptions = OPTIONS): ReturnType<typeof renderLoadBalancer> {
  return renderLoadBalancer(parsePortmapKv(new Map(Object.entries(keys))), options);
}

/** The lines of one section ("backend pm_80_web"), without the header. */
function section(config: string, header: string): string[] {
  const block = config.split("\n\n").find((candidate) => candidate.startsWith(`${header}\n`));
  assert.ok(block, `no section ${header} in:\n${config}`);
  return block.trimEnd().split("\n").slice(1).map((line) => line.trim());
}

function serverTemplate(keys: Record<string, string>, backend: string): string {
  const line = section(render(keys).config, `backend ${backend}`).find((candidate) => candidate.startsWith("server-template"));
  assert.ok(line);
  return line;
}

describe("render: one frontend per listen port, one backend per entry", () => {
  test("an http entry with defaults", () => {
    const { config, maps } = render({ portmap: "http://80:web" });
    assert.deepEqual(section(config, "frontend pm_fe_80"), [
      "mode http",
      "bind 127.0.0.1:80",
      "timeout client 55000",
      "http-request set-var(txn.pm_path) path",
      "http-request set-var(txn.pm_route) req.hdr(host),field(1,:),lower,concat(,txn.pm_path,)",
      "use_backend %[var(txn.pm_route),map_beg(/etc/haproxy/maps/pm_80_host.map)] if { var(txn.pm_route),map_beg(/etc/haproxy/maps/pm_80_host.map) -m found }",
      "use_backend %[var(txn.pm_path),map_beg(/etc/haproxy/maps/pm_80_path.map)] if { var(txn.pm_path),map_beg(/etc/haproxy/maps/pm_80_path.map) -m found }",
    ]);
    assert.deepEqual(section(config, "backend pm_80_web"), [
      "mode http",
      "balance leastconn",
      "option forwardfor",
      "timeout connect 2000",
      "timeout server 120000",
      "server-template pm 32 0.0.0.0:80 check disabled init-addr none",
    ]);
    assert.deepEqual([...maps], [["pm_80_host.map", ""], ["pm_80_path.map", "/ pm_80_web\n"]]);
  });

  test("a tcp entry: mode tcp, default_backend, no maps, no forwardfor", () => {
    const { config, maps } = render({ portmap: "tcp://5432:db:6432", timeouts: "{client: 0, queue: 500}" });
    assert.deepEqual(section(config, "frontend pm_fe_5432"), ["mode tcp", "bind 127.0.0.1:5432", "default_backend pm_5432_db"]);
    assert.deepEqual(section(config, "backend pm_5432_db"), [
      "mode tcp",
      "balance leastconn",
      "timeout queue 500",
      "timeout connect 2000",
      "timeout server 120000",
      "server-template pm 32 0.0.0.0:6432 check disabled init-addr none",
    ]);
    assert.equal(maps.size, 0);
  });

  test("each type's listener and server options", () => {
    const portmap = { portmap: "https://443:a https+insecure://443:b{host:b.example} https-http://443:c{path:/c} tcp-proxy-v2://25:mail" };
    assert.equal(section(render(portmap).config, "frontend pm_fe_443")[1], "bind 127.0.0.1:443 ssl crt /etc/haproxy/certs");
    assert.equal(serverTemplate(portmap, "pm_443_a"), "server-template pm 32 0.0.0.0:443 check ssl verify required ca-file /etc/ssl/certs/ca-certificates.crt disabled init-addr none");
    assert.equal(serverTemplate(portmap, "pm_443_b"), "server-template pm 32 0.0.0.0:443 check ssl verify none disabled init-addr none");
    assert.equal(serverTemplate(portmap, "pm_443_c"), "server-template pm 32 0.0.0.0:443 check disabled init-addr none");
    assert.equal(serverTemplate(portmap, "pm_25_mail"), "server-template pm 32 0.0.0.0:25 check send-proxy-v2 disabled init-addr none");
    assert.match(render(portmap, { ...OPTIONS, caFile: "/etc/ssl/certs/ca-certificates.crt" }).config, /ca-file \/etc\/ssl\/certs\/ca-certificates\.crt disabled/);
  });

  test("check options, slots and max_rs", () => {
    const keys = { portmap: "http://80:web{check:/healthz,port:9000,inter:2s,rise:3,fall:2,slots:4} http://81:api", max_rs: "10" };
    assert.ok(section(render(keys).config, "backend pm_80_web").includes("option httpchk GET /healthz"));
    assert.equal(serverTemplate(keys, "pm_80_web"), "server-template pm 4 0.0.0.0:80 check port 9000 inter 2000ms rise 3 fall 2 disabled init-addr none");
    assert.equal(serverTemplate(keys, "pm_81_api"), "server-template pm 10 0.0.0.0:81 check disabled init-addr none");
  });

  test("balance, hash-type for the hashing algorithms", () => {
    for (const balance of ["roundrobin", "leastconn", "random", "first"]) {
      const lines = section(render({ portmap: `http://80:web{balance:${balance}}` }).config, "backend pm_80_web");
      assert.equal(lines[1], `balance ${balance}`);
      assert.ok(!lines.includes("hash-type consistent"));
    }
    for (const balance of ["source", "uri"]) {
      const lines = section(render({ portmap: `http://80:web{balance:${balance}}` }).config, "backend pm_80_web");
      assert.deepEqual(lines.slice(1, 3), [`balance ${balance}`, "hash-type consistent"]);
    }
  });

  test("sticky:cookie is a dynamic cookie with a per-backend key; sticky:source a stick table", () => {
    const cookie = section(render({ portmap: "http://80:web{sticky:cookie}" }).config, "backend pm_80_web");
    assert.ok(cookie.includes("cookie pm_80_web insert indirect nocache dynamic"));
    assert.ok(cookie.includes("dynamic-cookie-key s3cret_pm_80_web"));
    const source = section(render({ portmap: "tcp://80:db{sticky:source}" }).config, "backend pm_80_db");
    assert.ok(source.includes("stick-table type ipv6 size 100k expire 30m"));
    assert.ok(source.includes("stick on src"));
  });

  test("host and path routes live in the listener's maps, longest key first; websocket upgrades go before them", () => {
    const { config, maps } = render({ portmap: "http://80:web http://80:api{path:/api/} http://80:v2{path:/api/v2/} http://80:admin{host:admin.example.com} http://80:adminapi{host:admin.example.com,path:/api/} http://80:chat{path:/chat,upgrade:websocket}" });
    assert.equal(maps.get("pm_80_path.map"), "/api/v2/ pm_80_v2\n/api/ pm_80_api\n/chat pm_80_chat\n/ pm_80_web\n");
    assert.equal(maps.get("pm_80_host.map"), "admin.example.com/api/ pm_80_adminapi\nadmin.example.com/ pm_80_admin\n");
    const frontend = section(config, "frontend pm_fe_80");
    assert.equal(frontend[5], "use_backend pm_80_chat if { hdr(Upgrade) -i websocket }");
    assert.match(frontend[6] ?? "", /^use_backend %\[var\(txn.pm_route\),map_beg/);
    assert.equal(frontend.length, 8);
  });

  test("syslog in every frontend; metrics only with an ACL", () => {
    const keys = { portmap: "tcp://25:mail", syslog: "10.0.0.5:514", metrics_acl: "10.0.0.0/8 ::1", metrics_port: "9405" };
    const { config } = render(keys);
    assert.ok(section(config, "frontend pm_fe_25").includes("log 10.0.0.5:514 len 4096 local0"));
    assert.deepEqual(section(config, "frontend pm_metrics"), [
      "mode http",
      "bind 127.0.0.1:9405",
      "log 10.0.0.5:514 len 4096 local0",
      "timeout client 55000",
      "http-request deny unless { src 10.0.0.0/8 ::1 }",
      "http-request use-service prometheus-exporter if { path /metrics }",
    ]);
    assert.ok(!render({ portmap: "tcp://25:mail" }).config.includes("pm_metrics"));
  });

  test("the entries' order does not change the text", () => {
    const one = render({ portmap: "http://80:web http://80:api{path:/api/} tcp://5432:db" });
    const other = render({ portmap: "tcp://5432:db, http://80:api{path:/api/} http://80:web" });
    assert.equal(one.config, other.config);
    assert.deepEqual(one.maps, other.maps);
  });

  test("a bind address of all addresses", () => {
    assert.ok(section(render({ portmap: "tcp://25:mail" }, { ...OPTIONS, bindAddress: "" }).config, "frontend pm_fe_25").includes("bind :25"));
  });

  test("render options with characters a line cannot take are refused", () => {
    assert.throws(() => render({ portmap: "tcp://25:mail" }, { ...OPTIONS, certDirectory: "/etc/certs\nfrontend x" }), /render option certDirectory "\/etc\/certs\\nfrontend x" has characters a configuration line cannot take: fix it in the handler's config/);
    assert.throws(() => render({}, { ...OPTIONS, dynamicCookieKey: "a b" }), /render option dynamicCookieKey/);
    assert.throws(() => render({}, { ...OPTIONS, bindAddress: "1.2.3.4 ssl" }), /render option bindAddress/);
    assert.throws(() => render({}, { ...OPTIONS, caFile: "#x" }), /render option caFile/);
  });
});

describe("render: ACME HTTP-01 challenges go to the handler's listener", () => {
  const withChallenges: RenderOptions = { ...OPTIONS, acmeChallengeServer: "127.0.0.1:9701" };

  test("with certificate names: plain http listeners route the challenge path first, to one backend; TLS listeners do not", () => {
    const { config } = render({ portmap: "http://80:web https-http://443:web tcp://25:mail", certificate_name: "example.com" }, withChallenges);
    const http = section(config, "frontend pm_fe_80");
    const rule = "use_backend pm_acme_challenge if { path_beg /.well-known/acme-challenge/ }";
    assert.ok(http.includes(rule), http.join("\n"));
    assert.ok(http.indexOf(rule) < http.findIndex((line) => line.includes("map_beg")), "before the routes");
    assert.ok(!section(config, "frontend pm_fe_443").includes(rule));
    assert.deepEqual(section(config, "backend pm_acme_challenge"), ["mode http", "server handler 127.0.0.1:9701"]);
  });

  test("no certificate names, no listener to send them to, or no plain http listener: no route and no backend", () => {
    for (const [keys, options] of [
      [{ portmap: "http://80:web" }, withChallenges],
      [{ portmap: "http://80:web", certificate_name: "example.com" }, OPTIONS],
      [{ portmap: "https-http://443:web", certificate_name: "example.com" }, withChallenges],
    ] as const) {
      assert.doesNotMatch(render(keys, options).config, /acme/, JSON.stringify(keys));
    }
  });

  test("a challenge server that could end the line is refused", () => {
    assert.throws(() => render({ portmap: "http://80:web", certificate_name: "example.com" }, { ...OPTIONS, acmeChallengeServer: "127.0.0.1:9701\n    server x 1.2.3.4:80" }), /acmeChallengeServer/);
  });
});
