// Property-based tests of the portmap parser and renderer (fast-check): whatever
// the KV holds, the rendered text has only lines of a known shape, and only the
// directives its entries asked for; and a spec written back as KV parses to itself.
// The haproxy -c property is in test/integration/portmap/ (it runs HAProxy).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer, type RenderOptions } from "../../../handler/portmap/render.js";
import { formatPortmapKv } from "../../../handler/portmap/format.js";
import type { LoadBalancerSpec, PortmapEntry } from "../../../handler/portmap/spec.js";
import { injectedKv, parseOrRefuse, portmapKv, RESERVED_PORTS } from "./portmap-arbitraries.js";

const OPTIONS: RenderOptions = { bindAddress: "127.0.0.1", certDirectory: "/etc/haproxy/certs", mapDirectory: "/etc/haproxy/maps", dynamicCookieKey: "key" };
const RUNS = 400;

const NAME = "[A-Za-z0-9_-]+";
const PATH = "/[A-Za-z0-9._~/-]*";
const MAP = (variable: string): string => `%\\[var\\(txn\\.${variable}\\),map_beg\\(${PATH}\\.map\\)\\] if \\{ var\\(txn\\.${variable}\\),map_beg\\(${PATH}\\.map\\) -m found \\}`;
/** Every line the renderer may write, in full. */
const KNOWN_LINES = [
  /^# The load balancer's portmap, rendered by consul-haproxy-handler from Consul KV: edit the KV keys, not this file\.$/,
  /^$/,
  /^frontend pm_fe_\d+$/,
  /^frontend pm_metrics$/,
  new RegExp(`^backend pm_\\d+_${NAME}$`),
  /^ {4}mode (http|tcp)$/,
  new RegExp(`^ {4}bind 127\\.0\\.0\\.1:\\d+( ssl crt ${PATH})?$`),
  /^ {4}log [0-9.]+:\d+ len 4096 local0$/,
  /^ {4}timeout (client|queue|connect|server) \d+$/,
  new RegExp(`^ {4}default_backend pm_\\d+_${NAME}$`),
  /^ {4}http-request set-var\(txn\.pm_path\) path$/,
  /^ {4}http-request set-var\(txn\.pm_route\) req\.hdr\(host\),field\(1,:\),lower,concat\(,txn\.pm_path,\)$/,
  new RegExp(`^ {4}use_backend pm_\\d+_${NAME} if \\{ hdr\\(Upgrade\\) -i websocket \\}$`),
  new RegExp(`^ {4}use_backend ${MAP("pm_route")}$`),
  new RegExp(`^ {4}use_backend ${MAP("pm_path")}$`),
  /^ {4}http-request deny unless \{ src [0-9a-fA-F.:/ ]+ \}$/,
  /^ {4}http-request use-service prometheus-exporter if \{ path \/metrics \}$/,
  /^ {4}balance (roundrobin|leastconn|source|random|first|uri)$/,
  /^ {4}hash-type consistent$/,
  /^ {4}option forwardfor$/,
  new RegExp(`^ {4}option httpchk GET ${PATH}$`),
  new RegExp(`^ {4}cookie pm_\\d+_${NAME} insert indirect nocache dynamic$`),
  new RegExp(`^ {4}dynamic-cookie-key key_pm_\\d+_${NAME}$`),
  /^ {4}stick-table type ipv6 size 100k expire 30m$/,
  /^ {4}stick on src$/,
  /^ {4}server-template pm \d+ 0\.0\.0\.0:\d+ check( port \d+)?( inter \d+ms)?( rise \d+)?( fall \d+)?( ssl verify required ca-file \/etc\/ssl\/certs\/ca-certificates\.crt| ssl verify none)?( send-proxy-v2)? disabled init-addr none$/,
];
const MAP_LINE = new RegExp(`^[a-z0-9.-]*${PATH} pm_\\d+_${NAME}$`);

function backendSection(config: string, entry: PortmapEntry): string {
  const block = config.split("\n\n").find((candidate) => candidate.startsWith(`backend ${entry.backendName}\n`));
  assert.ok(block, `no backend for ${entry.text}`);
  return block;
}

/** A directive is in the entry's backend exactly when the entry's own text asks for it. */
function assertOnlyAskedFor(config: string, entry: PortmapEntry): void {
  const backend = backendSection(config, entry);
  const asked = (option: string): boolean => new RegExp(`[{,]${option}[,}]`).test(entry.text);
  const rules: [string, boolean][] = [
    ["option httpchk", /[{,]check:/.test(entry.text)],
    [" port ", /[{,]port:/.test(entry.text)],
    [" inter ", /[{,]inter:/.test(entry.text)],
    [" rise ", /[{,]rise:/.test(entry.text)],
    [" fall ", /[{,]fall:/.test(entry.text)],
    ["cookie ", asked("sticky:cookie")],
    ["stick on src", asked("sticky:source")],
    ["hash-type consistent", asked("balance:source") || asked("balance:uri")],
    ["send-proxy-v2", entry.text.startsWith("tcp-proxy-v2://")],
    ["ssl verify required", entry.text.startsWith("https://")],
    ["ssl verify none", entry.text.startsWith("https+insecure://")],
    ["option forwardfor", !entry.text.startsWith("tcp")],
  ];
  for (const [directive, wanted] of rules) assert.equal(backend.includes(directive), wanted, `${directive} in the backend of ${entry.text}:\n${backend}`);
  const websocket = config.includes(`use_backend ${entry.backendName} if { hdr(Upgrade) -i websocket }`);
  assert.equal(websocket, asked("upgrade:websocket"), `websocket route of ${entry.text}`);
}

function withoutText(spec: LoadBalancerSpec): unknown {
  return { ...spec, entries: spec.entries.map(({ text: _text, ...rest }) => rest) };
}

describe("portmap properties", () => {
  /** Every line known, only asked-for directives, one backend per entry, one frontend per port. */
  function assertRenderedAsAsked(kv: Map<string, string>, spec: LoadBalancerSpec): void {
    const { config, maps } = renderLoadBalancer(spec, OPTIONS);
    for (const line of config.split("\n")) assert.ok(KNOWN_LINES.some((known) => known.test(line)), `unknown line ${JSON.stringify(line)} from ${JSON.stringify([...kv])}`);
    for (const content of maps.values()) for (const line of content.split("\n").filter((item) => item !== "")) assert.match(line, MAP_LINE);
    for (const entry of spec.entries) assertOnlyAskedFor(config, entry);
    assert.equal(config.match(/^backend /gm)?.length ?? 0, spec.entries.length);
    const ports = new Set(spec.entries.map((entry) => entry.listenPort));
    assert.equal(config.match(/^frontend pm_fe_/gm)?.length ?? 0, ports.size);
    assert.equal(config.includes("frontend pm_metrics"), (kv.get("metrics_acl") ?? "").trim() !== "");
  }

  test("rendered text: only known lines, only asked-for directives, one backend per entry, one frontend per port", () => {
    let accepted = 0;
    fc.assert(
      fc.property(portmapKv, (kv) => {
        const spec = parseOrRefuse(kv);
        if (spec === undefined) return;
        accepted += 1;
        assertRenderedAsAsked(kv, spec);
      }),
      { numRuns: RUNS },
    );
    // A property over refused inputs only would prove nothing.
    assert.ok(accepted >= RUNS / 10, `only ${accepted} of ${RUNS} inputs were accepted`);
  });

  test("a line break, '#', a quote or a space in any field is refused or never reaches the text", () => {
    fc.assert(
      fc.property(injectedKv, (kv) => {
        const spec = parseOrRefuse(kv);
        if (spec !== undefined) assertRenderedAsAsked(kv, spec);
      }),
      { numRuns: RUNS },
    );
  });

  test("a spec written back as KV parses to the same spec and renders the same text", () => {
    fc.assert(
      fc.property(portmapKv, (kv) => {
        const spec = parseOrRefuse(kv);
        if (spec === undefined) return;
        const again = parsePortmapKv(formatPortmapKv(spec), { reservedPorts: RESERVED_PORTS });
        assert.deepEqual(withoutText(again), withoutText(spec));
        assert.deepEqual(renderLoadBalancer(again, OPTIONS), renderLoadBalancer(spec, OPTIONS));
      }),
      { numRuns: RUNS },
    );
  });

  test("the parser either returns a spec or throws a PortmapError, for any string at all", () => {
    const anyKv = fc.dictionary(fc.constantFrom("portmap", "max_rs", "timeouts", "metrics_acl", "metrics_port", "syslog", "certificate_name", "acme_directory", "acme_email", "acme_ca_file", "other"), fc.string({ maxLength: 40 }));
    fc.assert(fc.property(anyKv, (keys) => void parseOrRefuse(new Map(Object.entries(keys)))), { numRuns: RUNS });
  });
});
