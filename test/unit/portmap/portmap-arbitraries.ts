// Generators of KV prefixes for the portmap property tests: mostly well-formed
// entries, with small pools of ports and services so that entries collide, and
// values that are wrong or carry configuration syntax (line breaks, '#', quotes,
// spaces, braces) often enough that the parser's refusals are exercised too.
import fc from "fast-check";
import { parsePortmapKv, PortmapError } from "../../../handler/portmap/parse.js";
import type { LoadBalancerSpec } from "../../../handler/portmap/spec.js";

/** Strings that must never reach a configuration line. */
const HOSTILE = ["\n", "\r", "#", "\"", "'", " ", "\t", "\\", "}", "{", ",", ";", "%", "$", "\u0000", "\u2028", "\nbackend x", "\" ", "${X}"];

/** Mostly valid values, and now and then an invalid one. */
function mostly<T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 30, arbitrary: valid }, { weight: 1, arbitrary: invalid });
}

function sometimesHostile(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 30, arbitrary: valid },
    { weight: 1, arbitrary: fc.tuple(valid, fc.constantFrom(...HOSTILE), valid).map(([a, bad, b]) => `${a}${bad}${b}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
}

const port = mostly(
  fc.oneof({ weight: 1, arbitrary: fc.constantFrom("80", "443", "5432", "8080") }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }).map(String) }),
  fc.constantFrom("0", "65536", "-1", "08", ""),
);
// A small pool first, so that two entries often name one service on one port.
const service = sometimesHostile(fc.oneof({ weight: 3, arbitrary: fc.constantFrom("web", "api", "db") }, { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/) }));
// HTTP types more often than TCP ones: only they take most options.
const type = mostly(fc.constantFrom("http", "https", "https+insecure", "https-http", "http", "https-http", "tcp", "tcp-proxy-v2"), fc.constantFrom("udp", "HTTP", "http2", ""));
const path = sometimesHostile(fc.oneof(fc.constantFrom("/", "/api", "/api/", "/api/v2/", "/chat", "/health"), fc.stringMatching(/^\/[A-Za-z0-9._~/-]{0,16}$/)));
const host = sometimesHostile(fc.oneof(fc.constantFrom("example.com", "api.example.com", "Admin.Example.com"), fc.domain()));

const option: fc.Arbitrary<string> = fc.oneof(
  path.map((value) => `check:${value}`),
  port.map((value) => `port:${value}`),
  mostly(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(-1, 0, 1001)).map((value) => `rise:${value}`),
  mostly(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(-1, 0, 1001)).map((value) => `fall:${value}`),
  mostly(fc.constantFrom("roundrobin", "leastconn", "source", "random", "first", "uri"), fc.constant("static-rr")).map((value) => `balance:${value}`),
  mostly(fc.constantFrom("cookie", "source"), fc.constant("ip")).map((value) => `sticky:${value}`),
  host.map((value) => `host:${value}`),
  path.map((value) => `path:${value}`),
  mostly(fc.constant("upgrade:websocket"), fc.constant("upgrade:h2c")),
  mostly(fc.constantFrom("500", "250ms", "2s", "1m", "1h"), fc.constantFrom("0", "10us", "25h")).map((value) => `inter:${value}`),
  mostly(fc.integer({ min: 1, max: 1024 }), fc.constantFrom(0, 1025)).map((value) => `slots:${value}`),
  mostly(fc.constantFrom("passing", "warning"), fc.constant("critical")).map((value) => `health:${value}`),
).chain((valid) => mostly(fc.constant(valid), sometimesHostile(fc.constantFrom("weight:3", "rise", ""))));

export const portmapEntry: fc.Arbitrary<string> = fc
  .record({ type, listen: port, service, servicePort: fc.option(port, { nil: undefined }), options: fc.option(fc.array(option, { minLength: 1, maxLength: 3 }), { nil: undefined }) })
  .map(({ type: kind, listen, service: name, servicePort, options }) => {
    const address = `${kind}://${listen}:${name}${servicePort === undefined ? "" : `:${servicePort}`}`;
    return options === undefined ? address : `${address}{${options.join(",")}}`;
  });

const separator = fc.constantFrom(",", " ", ", ", "  ");

export const portmap: fc.Arbitrary<string> = fc
  .array(fc.tuple(portmapEntry, separator), { maxLength: 4 })
  .map((pairs) => pairs.map(([entry, between]) => `${entry}${between}`).join(""));

/** A KV prefix's keys: a portmap and, sometimes, each sibling key. */
export const portmapKv: fc.Arbitrary<Map<string, string>> = fc
  .record(
    {
      portmap,
      max_rs: mostly(fc.integer({ min: 1, max: 1024 }).map(String), fc.constantFrom("0", "1025", "32x")),
      timeouts: mostly(
        fc.record({ queue: fc.nat(100000), connect: fc.nat(100000), client: fc.nat(100000), server: fc.nat(200000) }, { requiredKeys: [] }).map((fields) => JSON.stringify(fields)),
        fc.constantFrom("{connect: 3000,}", "{server: 1s}", "{\"connect\": 10}\n#", "3000"),
      ),
      metrics_acl: sometimesHostile(fc.constantFrom("10.0.0.0/8", "127.0.0.1 ::1", "192.168.0.0/16,2001:db8::/32")),
      metrics_port: port,
      syslog: sometimesHostile(mostly(fc.constantFrom("10.0.0.5:514", "127.0.0.1:1514"), fc.constant("logs.example.com:514"))),
      certificate_name: sometimesHostile(fc.constantFrom("example.com", "example.com,*.example.com")),
      acme_directory: sometimesHostile(mostly(fc.constantFrom("https://acme-v02.api.letsencrypt.org/directory", "https://acme-staging-v02.api.letsencrypt.org/directory", "https://127.0.0.1:14000/dir"), fc.constantFrom("http://acme.example/directory", "acme.example"))),
      acme_email: sometimesHostile(mostly(fc.constantFrom("ops@example.com", "ops+acme@Example.com"), fc.constantFrom("ops", "mailto:ops@example.com"))),
      acme_ca_file: sometimesHostile(mostly(fc.constantFrom("/etc/ssl/ca.pem", "/srv/pebble ca.pem"), fc.constantFrom("ca.pem", "/etc/../ca.pem"))),
    },
    { requiredKeys: ["portmap"] },
  )
  .map((keys) => new Map(Object.entries(keys).filter((pair): pair is [string, string] => pair[1] !== undefined)));

export const RESERVED_PORTS = { stats: 8404, admin: 9999, metrics: 9100, handler: 9101 };

/** The parsed spec, or undefined when the parser refused it (with a PortmapError, nothing else). */
export function parseOrRefuse(kv: Map<string, string>): LoadBalancerSpec | undefined {
  try {
    return parsePortmapKv(kv, { reservedPorts: RESERVED_PORTS });
  } catch (error) {
    if (error instanceof PortmapError) return undefined;
    throw error;
  }
}

/**
 * A valid KV prefix with one configuration-syntax character put into one field:
 * the generators above do this now and then; this does it every time.
 */
export const injectedKv: fc.Arbitrary<Map<string, string>> = fc
  .record({
    field: fc.constantFrom("service", "check", "host", "path", "port", "inter", "syslog", "metrics_acl", "timeouts", "max_rs", "acme_directory", "acme_email", "acme_ca_file"),
    hostile: fc.constantFrom(...HOSTILE),
    position: fc.nat(),
  })
  .map(({ field, hostile, position }) => {
    const fields: Record<string, string> = { service: "web", check: "/health", host: "api.example.com", path: "/api/", port: "9000", inter: "2s", syslog: "10.0.0.5:514", metrics_acl: "10.0.0.0/8", timeouts: "{\"connect\": 3000}", max_rs: "16", acme_directory: "https://ca.example/dir", acme_email: "ops@example.com", acme_ca_file: "/etc/ca.pem" };
    const value = fields[field] ?? "";
    const at = position % (value.length + 1);
    fields[field] = `${value.slice(0, at)}${hostile}${value.slice(at)}`;
    const portmap = `http://80:${fields.service}{check:${fields.check},port:${fields.port},inter:${fields.inter}} http://80:api{host:${fields.host},path:${fields.path}}`;
    return new Map([
      ["portmap", portmap],
      ["syslog", fields.syslog ?? ""],
      ["metrics_acl", fields.metrics_acl ?? ""],
      ["timeouts", fields.timeouts ?? ""],
      ["max_rs", fields.max_rs ?? ""],
      ["acme_directory", fields.acme_directory ?? ""],
      ["acme_email", fields.acme_email ?? ""],
      ["acme_ca_file", fields.acme_ca_file ?? ""],
    ]);
  });

/** Several HTTP entries on one listener, from small pools: the sharing rules' cases. */
export const sharedListenerKv: fc.Arbitrary<Map<string, string>> = fc
  .array(
    fc.record({
      type: fc.constantFrom("http", "https-http", "https"),
      service: fc.constantFrom("web", "api", "chat", "admin"),
      options: fc.subarray(["host:a.example", "path:/api/", "path:/", "upgrade:websocket", "sticky:cookie", "balance:uri"], { maxLength: 3 }),
    }),
    { minLength: 2, maxLength: 4 },
  )
  .map((entries) => {
    const tls = entries[0]?.type !== "http";
    const portmap = entries.map(({ type, service: name, options }) => {
      const kind = tls ? (type === "http" ? "https-http" : type) : "http";
      return `${kind}://8443:${name}${options.length > 0 ? `{${options.join(",")}}` : ""}`;
    });
    return new Map([["portmap", portmap.join(" ")]]);
  });
