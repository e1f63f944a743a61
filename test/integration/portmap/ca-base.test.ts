// An `https` entry rendered with the handler's default lb.caFile passes
// `haproxy -c` beside a haproxy.cfg that sets `ca-base /etc/ssl/certs`, as
// Debian's and the playbook's do: HAProxy 2.6 puts the ca-base in front of
// `@system-ca` (".../certs/@system-ca": no such file), so the old default had
// every rendering with an https entry refused on those hosts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import { checkConfiguration } from "../../../handler/lb/haproxy-check.js";
import { lbTable } from "../../../handler/config/schema/lb.js";
import { haproxyProgram } from "../../harness/haproxy.js";
import { makeSelfSigned } from "../../harness/backends.js";

for (const [what, caFile] of [["the config's default lb.caFile", lbTable.caFile.default], ["the renderer's own default", undefined]] as const) {
  test(`${what} renders an https entry HAProxy accepts under Debian's ca-base`, async () => {
  const directory = mkdtempSync(join(tmpdir(), "cht-ca-base-"));
  const certDirectory = join(directory, "certs");
  mkdirSync(certDirectory);
  const tls = makeSelfSigned();
  writeFileSync(join(certDirectory, "lb.test.pem"), readFileSync(tls.certFile, "utf8") + readFileSync(tls.keyFile, "utf8"));
  const spec = parsePortmapKv(new Map([["portmap", "https://18443:web"]]));
  const options = { bindAddress: "127.0.0.1", certDirectory, mapDirectory: join(directory, "maps"), dynamicCookieKey: "ca-base-test" };
  const rendered = renderLoadBalancer(spec, caFile === undefined ? options : { ...options, caFile });
  assert.match(rendered.config, /ssl verify required ca-file \S+ /, "the https backend verifies against a CA file");
  mkdirSync(join(directory, "maps"));
  for (const [name, content] of rendered.maps) writeFileSync(join(directory, "maps", name), content);
  const main = join(directory, "haproxy.cfg");
  writeFileSync(main, ["global", "    ca-base /etc/ssl/certs", "    crt-base /etc/ssl/private", "defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s", ""].join("\n"));
  const portmap = join(directory, "portmap.cfg");
  writeFileSync(portmap, rendered.config);
  await checkConfiguration(haproxyProgram, [main, portmap]);
  });
}
