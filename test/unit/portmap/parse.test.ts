import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parsePortmapKv, PortmapError, type ParseOptions } from "../../../handler/portmap/parse.js";
import type { LoadBalancerSpec, PortmapEntry } from "../../../handler/portmap/spec.js";

const PREFIX = "consul-haproxy-handler/lb/default/";

function parse(keys: Record<string, string | null>, options: ParseOptions = {}): LoadBalancerSpec {
  return parsePortmapKv(new Map(Object.entries(keys).map(([key, value]) => [PREFIX + key, value])), { prefix: PREFIX, ...options });
}

function entry(text: string): PortmapEntry {
  const [only, ...rest] = parse({ portmap: text }).entries;
  assert.equal(rest.length, 0);
  assert.ok(only);
  return only;
}

/** Asserts the refusal and its whole message: the entry, the part and what to do. */
function refused(keys: Record<string, string | null>, message: string, options: ParseOptions = {}): void {
  assert.throws(() => parse(keys, options), (error: unknown) => {
    assert.ok(error instanceof PortmapError);
    assert.equal(error.message, message);
    return true;
  });
}

describe("portmap defaults", () => {
  test("no keys at all: no entries and Moirai's defaults", () => {
    assert.deepEqual(parse({}), {
      entries: [],
      maxRs: 32,
      timeouts: { queue: 0, connect: 2000, client: 55000, server: 120000 },
      metrics: { port: 8405, acl: [] },
      certificateNames: [],
      acme: { directory: "https://acme-v02.api.letsencrypt.org/directory" },
    });
  });

  test("the folder's own key and empty values count as absent", () => {
    assert.deepEqual(parse({ "": null, max_rs: "  ", portmap: "" }), parse({}));
  });

  test("an entry without options: leastconn, a connect check, max_rs slots, passing only", () => {
    assert.deepEqual(parse({ portmap: "http://80:web", max_rs: "8" }).entries, [
      { text: "http://80:web", type: "http", listenPort: 80, service: "web", backendName: "pm_80_web", check: {}, balance: "leastconn", upgradeWebsocket: false, slots: 8, health: "passing" },
    ]);
  });
});

describe("portmap entries", () => {
  for (const type of ["http", "https", "https+insecure", "https-http", "tcp", "tcp-proxy-v2"] as const) {
    test(`type ${type}`, () => {
      assert.equal(entry(`${type}://8080:svc`).type, type);
    });
  }

  test("comma and space separated, several separators, braces keep their commas", () => {
    const spec = parse({ portmap: " http://80:a{rise:3,fall:4}, tcp://5432:db  tcp://5433:db2,,https://443:b " });
    assert.deepEqual(spec.entries.map((item) => item.text), ["http://80:a{rise:3,fall:4}", "tcp://5432:db", "tcp://5433:db2", "https://443:b"]);
  });

  test(":<port> overrides the instances' port", () => {
    assert.equal(entry("tcp://5432:db:6432").servicePort, 6432);
    assert.equal(entry("tcp://5432:db").servicePort, undefined);
  });

  test("Moirai's check options", () => {
    assert.deepEqual(entry("http://80:web{check:/healthz,port:9000,rise:5,fall:1}").check, { path: "/healthz", port: 9000, rise: 5, fall: 1 });
  });

  test("inter takes HAProxy's units, ms when none", () => {
    for (const [value, ms] of [["500", 500], ["250ms", 250], ["2s", 2000], ["1m", 60000], ["1h", 3600000]] as const) {
      assert.equal(entry(`http://80:web{inter:${value}}`).check.interMs, ms);
    }
  });

  test("every balance algorithm", () => {
    for (const balance of ["roundrobin", "leastconn", "source", "random", "first", "uri"] as const) {
      assert.equal(entry(`http://80:web{balance:${balance}}`).balance, balance);
    }
    assert.equal(entry("tcp://80:db{balance:source}").balance, "source");
  });

  test("sticky, host (lower-cased), path, upgrade, slots, health", () => {
    const parsed = entry("https-http://443:web{sticky:cookie,host:WWW.Example.com,path:/api/v1,upgrade:websocket,slots:4,health:warning}");
    assert.equal(parsed.sticky, "cookie");
    assert.equal(parsed.host, "www.example.com");
    assert.equal(parsed.path, "/api/v1");
    assert.equal(parsed.upgradeWebsocket, true);
    assert.equal(parsed.slots, 4);
    assert.equal(parsed.health, "warning");
    assert.equal(entry("tcp://5432:db{sticky:source}").sticky, "source");
  });

  test("several services behind one http port by host and path, one default", () => {
    const spec = parse({ portmap: "http://80:web http://80:api{path:/api/} http://80:admin{host:admin.example.com} http://80:chat{upgrade:websocket,path:/chat}" });
    assert.deepEqual(spec.entries.map((item) => item.backendName), ["pm_80_web", "pm_80_api", "pm_80_admin", "pm_80_chat"]);
  });

  test("https types share a TLS listener", () => {
    assert.equal(parse({ portmap: "https://443:a https+insecure://443:b{host:b.example} https-http://443:c{path:/c}" }).entries.length, 3);
  });
});

describe("portmap sibling keys", () => {
  test("max_rs from 1 to 1024", () => {
    assert.equal(parse({ max_rs: "1" }).maxRs, 1);
    assert.equal(parse({ max_rs: "1024" }).maxRs, 1024);
  });

  test("timeouts as Moirai's JSON5 object; missing fields keep their defaults", () => {
    assert.deepEqual(parse({ timeouts: `{"connect": 3000, server:60000, 'queue': 10,}` }).timeouts, { queue: 10, connect: 3000, client: 55000, server: 60000 });
    assert.deepEqual(parse({ timeouts: "{}" }).timeouts, { queue: 0, connect: 2000, client: 55000, server: 120000 });
  });

  test("metrics_acl, metrics_port, syslog, certificate_name", () => {
    const spec = parse({ metrics_acl: "10.0.0.0/8, 192.168.1.7 2001:db8::/32", metrics_port: "9405", syslog: "10.0.0.5:514", certificate_name: "example.com,*.example.com www.example.com" });
    assert.deepEqual(spec.metrics, { port: 9405, acl: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"] });
    assert.deepEqual(spec.syslog, { host: "10.0.0.5", port: 514 });
    assert.deepEqual(spec.certificateNames, ["example.com", "*.example.com", "www.example.com"]);
    assert.deepEqual(parse({ syslog: "10.0.0.5:1514" }).syslog, { host: "10.0.0.5", port: 1514 });
  });

  test("acme_directory, acme_email, acme_ca_file", () => {
    const spec = parse({ acme_directory: " https://ca.internal:14000/dir ", acme_email: "Ops+acme@Example.COM", acme_ca_file: "/etc/consul-haproxy-handler/pebble ca.pem" });
    assert.deepEqual(spec.acme, { directory: "https://ca.internal:14000/dir", email: "Ops+acme@Example.COM", caFile: "/etc/consul-haproxy-handler/pebble ca.pem" });
    assert.deepEqual(parse({ acme_email: "ops@example.com" }).acme, { directory: "https://acme-v02.api.letsencrypt.org/directory", email: "ops@example.com" });
    assert.deepEqual(parse({ acme_directory: "https://xn--bcher-kva.example/directory?v=2" }).acme, { directory: "https://xn--bcher-kva.example/directory?v=2" });
  });
});

describe("a bad portmap is refused whole, with one message naming the entry, the part and what to do", () => {
  const cases: [string, Record<string, string>, string][] = [
    ["unknown key", { "max-rs": "4" }, `unknown key "consul-haproxy-handler/lb/default/max-rs" under the load balancer's KV prefix: the keys are portmap, max_rs, timeouts, metrics_acl, metrics_port, syslog, certificate_name, acme_directory, acme_email, acme_ca_file; rename or delete it`],
    ["no scheme", { portmap: "http:80:web" }, `portmap entry 1 "http:80:web": syntax: no "://" after the type: write <type>://<listen port>:<service>[:<port>][{option:value,...}]`],
    ["unknown type", { portmap: "http://80:web udp://53:dns" }, `portmap entry 2 "udp://53:dns": type: unknown type "udp": use one of http, https, https+insecure, https-http, tcp, tcp-proxy-v2`],
    ["no service", { portmap: "http://80" }, `portmap entry 1 "http://80": syntax: expected <listen port>:<service>[:<port>] after "http://": write <type>://<listen port>:<service>[:<port>][{option:value,...}]`],
    ["too many colons", { portmap: "http://80:web:81:82" }, `portmap entry 1 "http://80:web:81:82": syntax: expected <listen port>:<service>[:<port>] after "http://": write <type>://<listen port>:<service>[:<port>][{option:value,...}]`],
    ["listen port 0", { portmap: "http://0:web" }, `portmap entry 1 "http://0:web": listen port: "0" is not a port from 1 to 65535`],
    ["listen port too high", { portmap: "http://65536:web" }, `portmap entry 1 "http://65536:web": listen port: "65536" is not a port from 1 to 65535`],
    ["service port", { portmap: "http://80:web:x" }, `portmap entry 1 "http://80:web:x": service port: "x" is not a port from 1 to 65535 (leave ":<port>" out to use the instances' own port)`],
    ["service name", { portmap: "http://80:-web" }, `portmap entry 1 "http://80:-web": service: "-web" is not a Consul service name: letters, digits, '_' and '-', starting with a letter or digit, at most 63`],
    ["dot in a service name", { portmap: "http://80:web.service" }, `portmap entry 1 "http://80:web.service": service: "web.service" is not a Consul service name: letters, digits, '_' and '-', starting with a letter or digit, at most 63`],
    ["a line break", { portmap: "http://80:web\nbackend x" }, `portmap entry 1 "http://80:web\\nbackend": character: "\\n" (U+000A) is not allowed: an entry has letters, digits and : / { } , . _ ~ + - only; separate entries with commas or spaces`],
    ["a comment", { portmap: "http://80:web{check:/a#b}" }, `portmap entry 1 "http://80:web{check:/a#b}": character: "#" (U+0023) is not allowed: an entry has letters, digits and : / { } , . _ ~ + - only; separate entries with commas or spaces`],
    ["a quote", { portmap: `http://80:web{path:/"x}` }, `portmap entry 1 "http://80:web{path:/\\"x}": character: "\\"" (U+0022) is not allowed: an entry has letters, digits and : / { } , . _ ~ + - only; separate entries with commas or spaces`],
    ["a tab", { portmap: "http://80:web\thttp://81:a" }, `portmap entry 1 "http://80:web\\thttp://81:a": character: "\\t" (U+0009) is not allowed: an entry has letters, digits and : / { } , . _ ~ + - only; separate entries with commas or spaces`],
    ["unclosed options", { portmap: "http://80:web{rise:2" }, `portmap entry 1 "http://80:web{rise:2": options: the options must be one {...} at the end of the entry: write <type>://<listen port>:<service>[:<port>][{option:value,...}]`],
    ["text after the options", { portmap: "http://80:web{rise:2}x" }, `portmap entry 1 "http://80:web{rise:2}x": options: the options must be one {...} at the end of the entry: write <type>://<listen port>:<service>[:<port>][{option:value,...}]`],
    ["unknown option", { portmap: "http://80:web{weight:3}" }, `portmap entry 1 "http://80:web{weight:3}": option "weight": unknown option: use one of check, port, rise, fall, balance, sticky, host, path, upgrade, inter, slots, health`],
    ["option without a value", { portmap: "http://80:web{rise}" }, `portmap entry 1 "http://80:web{rise}": option rise: no value: write rise:<value>`],
    ["empty option", { portmap: "http://80:web{rise:2,}" }, `portmap entry 1 "http://80:web{rise:2,}": options: an empty option: write {option:value,...} without extra commas`],
    ["option twice", { portmap: "http://80:web{rise:2,rise:3}" }, `portmap entry 1 "http://80:web{rise:2,rise:3}": option rise: given twice: keep one`],
    ["check not a path", { portmap: "http://80:web{check:health}" }, `portmap entry 1 "http://80:web{check:health}": option check: "health" is not a path: write check:/health ('/' then letters, digits and . _ ~ / - only)`],
    ["check port", { portmap: "http://80:web{port:70000}" }, `portmap entry 1 "http://80:web{port:70000}": option port: "70000" is not a port from 1 to 65535 (the port health checks go to)`],
    ["rise 0", { portmap: "http://80:web{rise:0}" }, `portmap entry 1 "http://80:web{rise:0}": option rise: "0" is not a whole number from 1 to 1000`],
    ["fall negative", { portmap: "http://80:web{fall:-1}" }, `portmap entry 1 "http://80:web{fall:-1}": option fall: "-1" is not a whole number from 1 to 1000`],
    ["inter in microseconds", { portmap: "http://80:web{inter:10us}" }, `portmap entry 1 "http://80:web{inter:10us}": option inter: "10us" is not a duration from 1ms to 24h: write e.g. 500ms, 2s, 1m`],
    ["inter over a day", { portmap: "http://80:web{inter:25h}" }, `portmap entry 1 "http://80:web{inter:25h}": option inter: "25h" is not a duration from 1ms to 24h: write e.g. 500ms, 2s, 1m`],
    ["slots 1025", { portmap: "http://80:web{slots:1025}" }, `portmap entry 1 "http://80:web{slots:1025}": option slots: "1025" is not a whole number from 1 to 1024`],
    ["unknown balance", { portmap: "http://80:web{balance:static-rr}" }, `portmap entry 1 "http://80:web{balance:static-rr}": option balance: unknown algorithm "static-rr": use one of roundrobin, leastconn, source, random, first, uri`],
    ["balance uri on tcp", { portmap: "tcp://80:db{balance:uri}" }, `portmap entry 1 "tcp://80:db{balance:uri}": option balance: balance:uri needs an HTTP type (http, https, https+insecure, https-http), not tcp`],
    ["unknown sticky", { portmap: "http://80:web{sticky:ip}" }, `portmap entry 1 "http://80:web{sticky:ip}": option sticky: "ip": use sticky:cookie (HTTP types) or sticky:source`],
    ["cookie on tcp", { portmap: "tcp-proxy-v2://80:db{sticky:cookie}" }, `portmap entry 1 "tcp-proxy-v2://80:db{sticky:cookie}": option sticky: sticky:cookie needs an HTTP type (http, https, https+insecure, https-http), not tcp-proxy-v2`],
    ["host on tcp", { portmap: "tcp://80:db{host:a.example}" }, `portmap entry 1 "tcp://80:db{host:a.example}": option host: a host route needs an HTTP type (http, https, https+insecure, https-http), not tcp`],
    ["bad host", { portmap: "http://80:web{host:-a.example}" }, `portmap entry 1 "http://80:web{host:-a.example}": option host: "-a.example" is not a DNS host name: letters, digits, '-' and '.', no port`],
    ["path on tcp", { portmap: "tcp://80:db{path:/a}" }, `portmap entry 1 "tcp://80:db{path:/a}": option path: a path route needs an HTTP type (http, https, https+insecure, https-http), not tcp`],
    ["bad path", { portmap: "http://80:web{path:api}" }, `portmap entry 1 "http://80:web{path:api}": option path: "api" is not a path prefix: write path:/api/ ('/' then letters, digits and . _ ~ / - only)`],
    ["unknown upgrade", { portmap: "http://80:web{upgrade:h2c}" }, `portmap entry 1 "http://80:web{upgrade:h2c}": option upgrade: "h2c": the only upgrade is upgrade:websocket`],
    ["websocket on tcp", { portmap: "tcp://80:db{upgrade:websocket}" }, `portmap entry 1 "tcp://80:db{upgrade:websocket}": option upgrade: upgrade:websocket needs an HTTP type (http, https, https+insecure, https-http), not tcp`],
    ["unknown health", { portmap: "http://80:web{health:critical}" }, `portmap entry 1 "http://80:web{health:critical}": option health: "critical": use health:passing (default) or health:warning (warning instances serve too)`],
    ["two entries on one tcp port", { portmap: "tcp://5432:db tcp://5432:db2" }, `portmap entry 2 "tcp://5432:db2": listen port: 5432 is taken by entry 1 "tcp://5432:db": a tcp listener takes one entry; choose another listen port`],
    ["tcp and http on one port", { portmap: "http://80:web tcp://80:db" }, `portmap entry 2 "tcp://80:db": listen port: 80 is taken by entry 1 "http://80:web": a tcp listener takes one entry; choose another listen port`],
    ["TLS and plain on one port", { portmap: "http://80:web https://80:b{host:b.example}" }, `portmap entry 2 "https://80:b{host:b.example}": listen port: 80 is taken by entry 1 "http://80:web", and one of them ends TLS and the other does not: use http for both or https types for both, or another listen port`],
    ["one service twice on one port", { portmap: "http://80:web{host:a.example} http://80:web{host:b.example}" }, `portmap entry 2 "http://80:web{host:b.example}": service: web is on port 80 already in entry 1 "http://80:web{host:a.example}": one entry per service and listener; use another listen port`],
    ["two defaults on one port", { portmap: "http://80:web http://80:api" }, `portmap entry 2 "http://80:api": route: entry 1 "http://80:web" has no host or path (the listener's default) on port 80: give one of them a different host: or path:`],
    ["path:/ is the default", { portmap: "http://80:web http://80:api{path:/}" }, `portmap entry 2 "http://80:api{path:/}": route: entry 1 "http://80:web" has the same route "/" on port 80: give one of them a different host: or path:`],
    ["one host route twice", { portmap: "http://80:a{host:x.example,path:/p} http://80:b{path:/p,host:X.example}" }, `portmap entry 2 "http://80:b{path:/p,host:X.example}": route: entry 1 "http://80:a{host:x.example,path:/p}" has the same route "x.example/p" on port 80: give one of them a different host: or path:`],
    ["two websocket entries on one port", { portmap: "http://80:a{upgrade:websocket} http://80:b{upgrade:websocket,path:/b}" }, `portmap entry 2 "http://80:b{upgrade:websocket,path:/b}": option upgrade: entry 1 "http://80:a{upgrade:websocket}" takes WebSocket upgrades on port 80 already: keep upgrade:websocket on one entry per listener`],
    ["max_rs 0", { max_rs: "0" }, `max_rs "0" is not a whole number from 1 to 1024: set the slots per backend (default 32)`],
    ["max_rs 1025", { max_rs: "1025" }, `max_rs "1025" is not a whole number from 1 to 1024: set the slots per backend (default 32)`],
    ["timeouts not an object", { timeouts: "3000" }, `timeouts "3000" is not an object in braces: write a JSON object of milliseconds with the fields queue, connect, client and server, e.g. {"connect": 3000}`],
    ["timeouts unknown field", { timeouts: "{tunnel: 5}" }, `timeouts: "tunnel: 5" is not a field: write a JSON object of milliseconds with the fields queue, connect, client and server, e.g. {"connect": 3000}`],
    ["timeouts with a unit", { timeouts: "{connect: 3s}" }, `timeouts: "connect: 3s" is not a field: write a JSON object of milliseconds with the fields queue, connect, client and server, e.g. {"connect": 3000}`],
    ["timeouts twice", { timeouts: "{connect: 3, connect: 4}" }, `timeouts: connect is given twice: keep one`],
    ["timeouts over a day", { timeouts: "{server: 86400001}" }, `timeouts: server 86400001 ms is more than a day: give milliseconds from 0 (HAProxy's default) to 86400000`],
    ["metrics_acl", { metrics_acl: "10.0.0.0/33" }, `metrics_acl: "10.0.0.0/33" is not an IP address or prefix: write e.g. 10.0.0.0/8 or 2001:db8::/32, separated by commas or spaces`],
    ["metrics_acl with an IPv6 zone", { metrics_acl: "::1%10.0.0.0/8" }, `metrics_acl: "::1%10.0.0.0/8" is not an IP address or prefix: write e.g. 10.0.0.0/8 or 2001:db8::/32, separated by commas or spaces`],
    ["metrics_port", { metrics_port: "0" }, `metrics_port "0" is not a port from 1 to 65535: set a free port (default 8405)`],
    ["syslog without a port", { syslog: "10.0.0.5" }, `syslog "10.0.0.5" is not HOST:PORT: write the syslog server's IPv4 address and port, e.g. 10.0.0.5:514 (not a name: HAProxy resolves it at every reload)`],
    ["syslog with a bad host", { syslog: "a b:514" }, `syslog "a b:514" is not HOST:PORT: write the syslog server's IPv4 address and port, e.g. 10.0.0.5:514 (not a name: HAProxy resolves it at every reload)`],
    ["syslog with a host name", { syslog: "logs.example.com:514" }, `syslog "logs.example.com:514" is not HOST:PORT: write the syslog server's IPv4 address and port, e.g. 10.0.0.5:514 (not a name: HAProxy resolves it at every reload)`],
    ["certificate_name", { certificate_name: "example.com,bad_name" }, `certificate_name: "bad_name" is not a DNS name: list the certificates' names (the first is the subject), separated by commas`],
    ["acme_directory over http", { acme_directory: "http://acme.example/directory" }, `acme_directory "http://acme.example/directory" is not an https URL: write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, https://acme-v02.api.letsencrypt.org/directory)`],
    ["acme_directory not a URL", { acme_directory: "acme.example/directory" }, `acme_directory "acme.example/directory" is not an https URL: write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, https://acme-v02.api.letsencrypt.org/directory)`],
    ["acme_directory with a space", { acme_directory: "https://acme.example/a b" }, `acme_directory "https://acme.example/a b" is not an https URL: write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, https://acme-v02.api.letsencrypt.org/directory)`],
    ["acme_directory with a line break", { acme_directory: "https://acme.example/\ndirectory" }, `acme_directory: "\\n" (U+000A) is not allowed: write the value on one line, without control characters`],
    ["acme_directory with credentials", { acme_directory: "https://user:secret@acme.example/directory" }, `acme_directory "https://...@acme.example" has credentials in it: an ACME directory needs none; write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, https://acme-v02.api.letsencrypt.org/directory)`],
    ["acme_directory with a fragment", { acme_directory: "https://acme.example/directory#x" }, `acme_directory "https://acme.example/directory#x" has a fragment ('#'): write the CA's directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (default Let's Encrypt production, https://acme-v02.api.letsencrypt.org/directory)`],
    ["acme_email without a domain", { acme_email: "ops" }, `acme_email "ops" is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`],
    ["acme_email with mailto:", { acme_email: "mailto:ops@example.com" }, `acme_email "mailto:ops@example.com" is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`],
    ["acme_email, two addresses", { acme_email: "ops@example.com,dev@example.com" }, `acme_email "ops@example.com,dev@example.com" is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`],
    ["acme_email without a dot in the domain", { acme_email: "ops@localhost" }, `acme_email "ops@localhost" is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`],
    ["acme_email with a double dot", { acme_email: "o..ps@example.com" }, `acme_email "o..ps@example.com" is not an e-mail address: write one address, e.g. ops@example.com (letters, digits, '.', '_', '+' and '-' before the '@'; no "mailto:", no list), or delete the key for an account without contact`],
    ["acme_email with a C1 control", { acme_email: "ops\u0085@example.com" }, `acme_email: "\u0085" (U+0085) is not allowed: write the value on one line, without control characters`],
    ["acme_ca_file relative", { acme_ca_file: "certs/ca.pem" }, `acme_ca_file "certs/ca.pem" is not an absolute path: write the path of the CA certificate (PEM) on the load balancer from '/', without . or .. segments, e.g. /etc/consul-haproxy-handler/acme-ca.pem`],
    ["acme_ca_file with ..", { acme_ca_file: "/etc/../root/ca.pem" }, `acme_ca_file "/etc/../root/ca.pem" is not an absolute path: write the path of the CA certificate (PEM) on the load balancer from '/', without . or .. segments, e.g. /etc/consul-haproxy-handler/acme-ca.pem`],
    ["acme_ca_file with a line separator", { acme_ca_file: "/etc/ca.pem\u2028x" }, `acme_ca_file: "\u2028" (U+2028) is not allowed: write the value on one line, without control characters`],
    ["acme_ca_file with a NUL", { acme_ca_file: "/etc/ca.pem\u0000" }, `acme_ca_file: "\\u0000" (U+0000) is not allowed: write the value on one line, without control characters`],
  ];
  for (const [name, keys, message] of cases) test(name, () => refused(keys, message));

  test("the reserved ports, named", () => {
    const reservedPorts = { stats: 8404, admin: 9999, metrics: 9100, handler: 9101 };
    for (const [what, port] of Object.entries(reservedPorts)) {
      refused({ portmap: `http://${port}:web` }, `portmap entry 1 "http://${port}:web": listen port: ${port} is the ${what} port already: choose another listen port`, { reservedPorts });
    }
  });

  test("metrics_port against the reserved ports and the entries, only when metrics are on", () => {
    refused({ metrics_acl: "10.0.0.0/8", metrics_port: "8404" }, `metrics_port 8404 is the stats port already: set another metrics_port`, { reservedPorts: { stats: 8404 } });
    refused({ metrics_acl: "10.0.0.0/8", portmap: "http://8405:web" }, `portmap entry 1 "http://8405:web": listen port: 8405 is metrics_port already: choose another listen port`);
    assert.equal(parse({ portmap: "http://8405:web" }).entries.length, 1);
  });

  test("a long entry is cut short in the message", () => {
    const long = `http://80:${"a".repeat(100)}`;
    assert.throws(() => parse({ portmap: long }), /^PortmapError: portmap entry 1 "http:\/\/80:a{67}\.\.\.": service: /);
  });
});
