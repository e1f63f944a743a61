// Moirai's metrics_acl / metrics_port and syslog keys as a real HAProxy runs
// the rendered portmap: the Prometheus exporter answers sources inside the
// allow-list and 403 to any other (127.0.0.1 inside, 127.0.0.2 outside, both
// on loopback), and the portmap's listeners send their log lines to the
// syslog address (a UDP receiver in the test).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePortmapKv } from "../../../handler/portmap/parse.js";
import { renderLoadBalancer } from "../../../handler/portmap/render.js";
import { admin, startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { startNode, type TestNode } from "../../harness/backends.js";
import { freePorts } from "../../harness/ports.js";
import { eventually } from "../../harness/eventually.js";
import { httpGet, type HttpAnswer } from "../../harness/http-get.js";

const get = (port: number, path: string, localAddress: string): Promise<HttpAnswer> => httpGet(port, path, { localAddress });

describe("metrics_acl, metrics_port and syslog from the portmap, in a real HAProxy", () => {
  let haproxy: HaproxyInstance;
  let node: TestNode;
  let receiver: Socket;
  const received: string[] = [];
  let [adminPort, listenPort, metricsPort, syslogPort] = [0, 0, 0, 0];

  before(async () => {
    [adminPort = 0, listenPort = 0, metricsPort = 0, syslogPort = 0] = await freePorts(4);
    receiver = createSocket("udp4");
    receiver.on("message", (message) => received.push(message.toString("utf8")));
    await new Promise<void>((resolve) => receiver.bind(syslogPort, "127.0.0.1", resolve));
    node = await startNode("web-1");
    const spec = parsePortmapKv(
      new Map([
        ["portmap", `http://${listenPort}:web`],
        ["metrics_acl", "127.0.0.1/32"],
        ["metrics_port", String(metricsPort)],
        ["syslog", `127.0.0.1:${syslogPort}`],
      ]),
    );
    const mapDirectory = join(mkdtempSync(join(tmpdir(), "chh-portmap-metrics-")), "maps");
    mkdirSync(mapDirectory);
    const rendered = renderLoadBalancer(spec, { bindAddress: "127.0.0.1", certDirectory: "/nonexistent", mapDirectory, dynamicCookieKey: "k" });
    for (const [file, content] of rendered.maps) writeFileSync(join(mapDirectory, file), content);
    // log-send-hostname is global: the playbook's haproxy.cfg has it, as Moirai's does.
    const preamble = ["global", `    stats socket ipv4@127.0.0.1:${adminPort} level admin`, "    log-send-hostname", "defaults", "    timeout connect 2s", "    timeout client 10s", "    timeout server 10s", ""].join("\n");
    haproxy = await startHaproxy({ config: `${preamble}\n${rendered.config}`, adminPort });
    await admin(adminPort, `set server pm_${listenPort}_web/pm1 addr ${node.address} port ${node.port}`);
    await admin(adminPort, `set server pm_${listenPort}_web/pm1 state ready`);
  });

  after(async () => {
    await haproxy?.stop();
    await node?.stop();
    receiver?.close();
  });

  test("the Prometheus exporter on metrics_port answers a source inside metrics_acl", async () => {
    const inside = await get(metricsPort, "/metrics", "127.0.0.1");
    assert.equal(inside.status, 200);
    assert.match(inside.body, /^haproxy_process_/m, "HAProxy's own exporter");
  });

  test("a source outside metrics_acl gets 403, on /metrics and on any other path", async () => {
    assert.equal((await get(metricsPort, "/metrics", "127.0.0.2")).status, 403);
    assert.equal((await get(metricsPort, "/", "127.0.0.2")).status, 403);
  });

  test("the portmap's listeners send their log lines to the syslog address", async () => {
    await eventually(async () => (await get(listenPort, "/", "127.0.0.1")).status, (status) => status === 200, "the listener to serve", 10_000);
    await eventually(() => Promise.resolve(received.filter((line) => line.includes(`pm_fe_${listenPort}`))), (lines) => lines.length > 0, "a log line naming the listener", 10_000);
    const line = received.find((entry) => entry.includes(`pm_fe_${listenPort}`)) ?? "";
    // <134>: facility local0 (16 * 8) + info (6); the hostname follows the timestamp (log-send-hostname).
    assert.match(line, /^<13\d>/, line);
  });
});
