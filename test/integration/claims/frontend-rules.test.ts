// docs/operators.md claims about the frontend the playbook installs: a
// source in haproxy_allowlist may call the admin commands (addNeighbors,
// removeNeighbors, getNeighbors) and is exempt from the rate limits; any
// other source gets 403 for an admin command and 429 once it passes a limit
// (requests per period, and a lower one for PoW commands); a request
// without X-IOTA-API-Version gets 400. The role's own haproxy.cfg.j2 is
// rendered by ansible-playbook (the real templating, the role's defaults)
// and run by a real HAProxy on loopback, with sources 127.0.0.1 (allow-
// listed by default) and 127.0.0.2/127.0.0.3 (not).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startNode, type TestNode } from "../../harness/backends.js";
import { repositoryRoot } from "../../harness/cli.js";
import { startHaproxy, type HaproxyInstance } from "../../harness/haproxy.js";
import { freePorts } from "../../harness/ports.js";

const RATE_LIMIT = 5;
const POW_RATE_LIMIT = 2;

let haproxy: HaproxyInstance;
let node: TestNode;
let frontendPort: number;

/** Renders roles/haproxy/templates/haproxy.cfg.j2 with the role's defaults and these overrides. */
async function renderRoleTemplate(directory: string, overrides: Record<string, unknown>): Promise<string> {
  const output = join(directory, "haproxy.cfg");
  const playbook = join(directory, "render.yml");
  writeFileSync(
    playbook,
    JSON.stringify([
      {
        hosts: "localhost",
        connection: "local",
        gather_facts: false,
        vars_files: [join(repositoryRoot, "roles/haproxy/defaults/main.yml")],
        tasks: [{ "ansible.builtin.template": { src: join(repositoryRoot, "roles/haproxy/templates/haproxy.cfg.j2"), dest: output, mode: "0644" } }],
      },
    ]),
  );
  await promisify(execFile)("ansible-playbook", ["-i", "localhost,", playbook, "-e", JSON.stringify(overrides)], { env: { ...process.env, ANSIBLE_NOCOLOR: "1" } });
  return readFileSync(output, "utf8");
}

function send(source: string, body: string, headers: Record<string, string> = { "X-IOTA-API-Version": "1" }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: "127.0.0.1", port: frontendPort, localAddress: source, method: "POST", path: "/", headers: { "content-type": "application/json", connection: "close", ...headers }, agent: false },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

async function statuses(source: string, body: string, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i += 1) seen.push((await send(source, body)).status);
  return seen;
}

before(async () => {
  const directory = mkdtempSync(join(tmpdir(), "cht-frontend-"));
  const [adminPort, frontend, statsPort, prometheusPort] = (await freePorts(4)) as [number, number, number, number];
  frontendPort = frontend;
  node = await startNode("n1");
  const rendered = await renderRoleTemplate(directory, {
    haproxy_frontend_tls: false,
    haproxy_frontend_bind_address: "127.0.0.1",
    haproxy_frontend_port: frontendPort,
    haproxy_admin_bind: `127.0.0.1:${adminPort}`,
    haproxy_admin_socket: join(directory, "admin.sock"),
    haproxy_stats_bind: `127.0.0.1:${statsPort}`,
    haproxy_prometheus_bind: `127.0.0.1:${prometheusPort}`,
    haproxy_server_state_file: join(directory, "server-state"),
    haproxy_nbthread: 1,
    haproxy_maxconn: 200,
    haproxy_rate_limit_requests: RATE_LIMIT,
    haproxy_rate_limit_pow_requests: POW_RATE_LIMIT,
  });
  // Only the process's identity is host-specific: no chroot, user or group
  // (the haproxy user may not exist here); the frontend is the role's, as rendered.
  const portable = rendered
    .split("\n")
    .filter((line) => !/^\s*(chroot|user|group)\s/.test(line))
    .map((line) => line.replace(/ group \S+ level admin/, " level admin"))
    .join("\n");
  assert.match(portable, /acl allowlisted src 127\.0\.0\.1\n/, "the role's default allow-list");
  const backends = ["iri_back", "iri_pow_back"].map((backend) => `backend ${backend}\n    server n1 127.0.0.1:${node.port}\n`).join("\n");
  haproxy = await startHaproxy({ config: `${portable}\n${backends}`, adminPort });
});

after(async () => {
  await haproxy?.stop();
  await node?.stop();
});

describe("the playbook's frontend rules", () => {
  test("an allow-listed source may call an admin command; another source gets 403", async () => {
    const admin = '{"command":"addNeighbors","uris":["tcp://10.0.0.1:15600"]}';
    const allowed = await send("127.0.0.1", admin);
    assert.deepEqual([allowed.status, JSON.parse(allowed.body)], [200, { node: "n1" }], "reached the node");
    assert.equal((await send("127.0.0.2", admin)).status, 403);
    assert.equal((await send("127.0.0.2", '{"command":"getNodeInfo"}')).status, 200, "a plain command from that source passes");
  });

  test("a request without X-IOTA-API-Version gets 400", async () => {
    assert.equal((await send("127.0.0.1", '{"command":"getNodeInfo"}', {})).status, 400);
  });

  test(`rate limits: 429 past ${RATE_LIMIT} requests per period from one source, past ${POW_RATE_LIMIT} PoW commands; the allow-listed source is exempt`, async () => {
    const info = '{"command":"getNodeInfo"}';
    const limited = await statuses("127.0.0.3", info, RATE_LIMIT + 3);
    assert.deepEqual(limited, [...Array<number>(RATE_LIMIT).fill(200), 429, 429, 429]);
    assert.deepEqual(await statuses("127.0.0.1", info, RATE_LIMIT + 3), Array<number>(RATE_LIMIT + 3).fill(200), "allow-listed: never limited");

    const pow = '{"command":"attachToTangle","trunkTransaction":"x"}';
    assert.deepEqual(await statuses("127.0.0.4", pow, POW_RATE_LIMIT + 2), [...Array<number>(POW_RATE_LIMIT).fill(200), 429, 429]);
    assert.deepEqual(await statuses("127.0.0.1", pow, POW_RATE_LIMIT + 2), Array<number>(POW_RATE_LIMIT + 2).fill(200), "allow-listed: PoW never limited");
  });
});
