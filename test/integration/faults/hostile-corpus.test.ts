// The hostile corpus: over 200 hostile values in service Meta, tags, Node
// Meta, addresses, service IDs and ports, registered in a real Consul. The
// handler reconciles through a recording proxy in front of HAProxy's admin
// socket, and every byte it sent must parse as one of the command shapes
// the handler builds, with only the good node's address in it.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { startNode, type TestNode } from "../../harness/backends.js";
import { startRecordingProxy, type RecordingProxy } from "../../harness/recording-proxy.js";
import { eventually, startStack, ttlRegistration } from "../handler/stack.js";
import { patchConfig } from "./fault-stack.js";

const nodes: TestNode[] = [];
const proxies: RecordingProxy[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

/** Injection payloads tried in every number, word and address field. */
const PAYLOADS = [
  "1; disable frontend front",
  "1;shutdown sessions server main_back/srv1",
  "5\nshutdown frontend front",
  "5\r\nset server main_back/srv1 addr 10.6.6.6",
  "1\u0000show info",
  "true;show info",
  "-1",
  "1e3",
  "0x10",
  "1.5",
  " 1",
  "1 ",
  "1\t2",
  "\uff11", // a full-width digit one
  "99999999999",
  "$(reboot)",
  "`id`",
  "%0adisable frontend front",
  "../../../etc/passwd",
  "ready drain",
  "maint;",
  "",
  "NaN",
  "Infinity",
  "\u202e1",
];
const KEYS = ["maxconn", "pow_maxconn", "weight", "pow", "scheme", "sslverify", "timeout"];

const HOSTILE_ADDRESSES = [
  "127.0.0.1; disable frontend front",
  "127.0.0.1\nshow info",
  "127.0.0.1 port 1",
  "localhost",
  "node.example.com",
  "10.0.0.1:80",
  "[::1]",
  "fe80::1%eth0",
  "fe80::1%eth0;show info",
  "256.1.1.1",
  "1.2.3",
  "01.02.03.04",
  " 10.0.0.1",
  "10.0.0.1 ",
  "0.0.0.0",
  "::",
  "::ffff:0.0.0.0",
  "224.0.0.1",
  "255.255.255.255",
  "ff02::1",
  "1.2.3.4/32",
  "$(curl evil)",
  "10.0.0.1\r\n",
  "::1::2",
  "http://10.0.0.1/",
];

const HOSTILE_IDS = ["id;show info", "id\nshutdown frontend front", "id disable", "id/../x", "id%0a", "\u0000id", "id`x`", "id$(x)", "id\r\nquit", "id\u202e"];
const HOSTILE_PORTS = [0, -1, 65536, 70000, 1e9];

/** Every command shape the handler builds (handler/haproxy-runtime-api/commands.ts), strictly. */
const NAME = "[A-Za-z0-9_.:-]{1,64}";
const SERVER = `${NAME}/${NAME}`;
const SHAPES: RegExp[] = [
  /^prompt$/,
  /^quit$/,
  /^show info$/,
  /^show stat$/,
  /^show servers state$/,
  /^show cli level$/,
  new RegExp(`^show stat ${NAME} 4 -1$`),
  new RegExp(`^show servers state ${NAME}$`),
  new RegExp(`^set server ${SERVER} addr (?<address>[0-9A-Fa-f:.]+) port (?<port>\\d{1,5})$`),
  new RegExp(`^set server ${SERVER} state (ready|drain|maint)$`),
  new RegExp(`^set server ${SERVER} health (up|stopping|down)$`),
  new RegExp(`^set server ${SERVER} weight (?<weight>\\d{1,3})$`),
  new RegExp(`^set maxconn server ${SERVER} (?<maxconn>\\d{1,7})$`),
  new RegExp(`^add server ${SERVER} (?<target>[0-9.]+|\\[[0-9A-Fa-f:.]+\\]):\\d{1,5}( [A-Za-z0-9_.:/-]{1,128})*$`),
  new RegExp(`^(del|enable) server ${SERVER}$`),
  new RegExp(`^enable health ${SERVER}$`),
];

function checkCommand(command: string, goodAddresses: Set<string>): string | undefined {
  const shape = SHAPES.map((pattern) => pattern.exec(command)).find((match) => match !== null);
  if (!shape) return `not a command the handler builds: ${JSON.stringify(command)}`;
  const groups = shape.groups ?? {};
  if (groups["address"] !== undefined) {
    if (isIP(groups["address"]) === 0) return `not an IP literal: ${JSON.stringify(command)}`;
    if (!goodAddresses.has(`${groups["address"]}:${groups["port"]}`)) return `an address no good node has: ${JSON.stringify(command)}`;
  }
  if (groups["weight"] !== undefined && Number(groups["weight"]) > 256) return `weight out of range: ${command}`;
  if (groups["maxconn"] !== undefined && Number(groups["maxconn"]) > 1_000_000) return `maxconn out of range: ${command}`;
  return undefined;
}

describe("hostile corpus", () => {
  test("over 200 hostile values: every byte sent to the admin socket is a well-formed command", async () => {
    const stack = await startStack({ slots: 8 });
    const recorder = await startRecordingProxy("127.0.0.1", Number(stack.haproxy.adminAddress.split(":")[1]));
    proxies.push(recorder);
    patchConfig(stack, (config) => {
      config["haproxy"] = { ...(config["haproxy"] as Record<string, unknown>), socket: recorder.address };
    });
    const good = await startNode("good");
    nodes.push(good);
    await stack.consul.register(ttlRegistration("good", good.port, { Meta: { haproxy_weight: "7", haproxy_maxconn: "9" } }));

    let accepted = 0;
    let number = 0;
    const catalog = async (registration: Record<string, unknown>): Promise<void> => {
      number += 1;
      const response = await stack.consul.api("PUT", "/v1/catalog/register", registration);
      if (response.status === 200) accepted += 1;
    };
    const service = (id: string, extra: Record<string, unknown> = {}) => ({ ID: id, Service: "iri", Port: good.port, ...extra });
    const passing = (id: string) => ({ CheckID: `c-${id}`, Name: "up", Status: "passing", ServiceID: id });
    // Every hostile registration has a loopback address of its own: had they
    // shared the good node's address and port, the planner would drop them as
    // duplicates, and a wrongly accepted weight, maxconn or pow would never
    // reach the socket. With their own address, one accepted by mistake takes
    // a slot, and its "set server ... addr" is an address no good node has.
    const ownAddress = (): string => `127.0.${1 + Math.floor(number / 250)}.${1 + (number % 250)}`;
    const register = (id: string, options: { address?: string; nodeMeta?: Record<string, string>; service?: Record<string, unknown> }) =>
      catalog({ Node: `hostile-${number}`, Address: options.address ?? ownAddress(), NodeMeta: options.nodeMeta ?? {}, Service: service(id, options.service), Check: passing(id) });

    for (const key of KEYS) {
      for (const [index, payload] of PAYLOADS.entries()) {
        // Meta and Node Meta values for every key; a tag for every other payload.
        await register(`meta-${key}-${index}`, { service: { Meta: { [`haproxy_${key}`]: payload } } });
        if (index % 2 === 0) await register(`tag-${key}-${index}`, { service: { Tags: [`haproxy.${key}=${payload}`] } });
        if (index % 3 === 0) await register(`nodemeta-${key}-${index}`, { nodeMeta: { [`haproxy_${key}`]: payload } });
      }
    }
    for (const [index, address] of HOSTILE_ADDRESSES.entries()) {
      await register(`node-address-${index}`, { address });
      await register(`service-address-${index}`, { service: { Address: address } });
    }
    for (const [index, id] of HOSTILE_IDS.entries()) await register(id, { service: { Meta: { haproxy_weight: `1;disable frontend front ${index}` } } });
    for (const [index, port] of HOSTILE_PORTS.entries()) await register(`port-${index}`, { service: { Port: port } });
    assert.ok(accepted >= 200, `the corpus holds at least 200 hostile registrations Consul accepted (${accepted} of ${number})`);

    const first = await stack.sync();
    const second = await stack.sync();
    for (const result of [first, second]) {
      // Exit 3 is expected: a few values are valid timeout-class names no slot class has ("-1", "1e3"), so those nodes are left out.
      assert.ok(result.code === 0 || result.code === 3, result.stderr.slice(-2000));
      assert.doesNotMatch(result.stderr, /HAProxy refused/);
    }
    await eventually(
      () => stack.servers("main_back"),
      (rows) => rows.some((row) => row.status === "UP" && row["addr"] === `127.0.0.1:${good.port}` && row["weight"] === "7"),
      "the good node applied",
    );

    const goodAddresses = new Set([`127.0.0.1:${good.port}`]);
    const sent = recorder.sent();
    assert.ok(sent.length >= 2, "the reconciles went through the recording proxy");
    const problems: string[] = [];
    let commands = 0;
    for (const stream of sent) {
      assert.ok(stream === "" || stream.endsWith("\n"), `every line ends with a newline: ${JSON.stringify(stream.slice(-80))}`);
      for (const line of stream.split("\n").slice(0, -1)) {
        for (const command of line.split(";")) {
          commands += 1;
          const problem = checkCommand(command, goodAddresses);
          if (problem) problems.push(problem);
        }
      }
    }
    assert.deepEqual(problems, [], `${problems.length} malformed command(s) of ${commands}`);
    assert.ok(commands > 10);
    // Nothing hostile was applied: only the good node holds a slot in the
    // default backend, none in the PoW backend (a wrongly accepted pow value
    // would land there; the good node does not set pow), the frontend is open.
    // Both backends answered with all their slots, so "none" is not an empty answer.
    for (const [backend, serving] of [["main_back", 1], ["pow_back", 0]] as const) {
      const rows = await stack.servers(backend);
      assert.ok(rows.length >= 8, `${backend} answered with its slots (${rows.length} rows)`);
      assert.deepEqual(
        rows.filter((row) => row.status !== "MAINT").map((row) => row["addr"]),
        serving === 1 ? [`127.0.0.1:${good.port}`] : [],
        `only the good node serves in ${backend}`,
      );
    }
    const frontend = (await stack.admin.showStat()).find((row) => row.pxname === "front" && row.svname === "FRONTEND");
    assert.equal(frontend?.status, "OPEN");
  });
});
