// The runtime API client against a real HAProxy, over TCP and a unix socket.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { commands, RuntimeApiClient, RuntimeApiError, type RuntimeCommand } from "../../../handler/haproxy-runtime-api/index.js";

describe("haproxy-runtime-api against HAProxy", async () => {
  const adminPort = await freePort();
  const haproxy = await startHaproxy({
    adminPort,
    config: `
global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
    stats timeout 10s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be
    balance roundrobin
    server-template s 1-2000 0.0.0.0:80 disabled init-addr none
`,
  });
  after(() => haproxy.stop());
  const client = new RuntimeApiClient(`127.0.0.1:${adminPort}`);

  test("fill a slot and read it back", async () => {
    const replies = await client.execute([
      commands.setServerAddr("be", "s1", "127.0.0.1", 8081),
      commands.setServerWeight("be", "s1", 42),
      commands.setServerMaxconn("be", "s1", 3),
      commands.setServerState("be", "s1", "ready"),
    ]);
    assert.deepEqual(replies.map((reply) => reply.ok), [true, true, true, true], JSON.stringify(replies));
    assert.match(replies[0]!.output, /^IP changed from '0\.0\.0\.0' to '127\.0\.0\.1'/);
    const row = (await client.showStat("be")).find((candidate) => candidate.svname === "s1");
    assert.equal(row?.["addr"], "127.0.0.1:8081");
    assert.equal(row?.["slim"], "3");
    assert.equal(row?.["weight"], "42");
    const state = (await client.showServersState("be")).find((candidate) => candidate.serverName === "s1");
    assert.equal(state?.port, 8081);
    assert.equal(state?.userWeight, 42);
  });

  test("an error in the middle of a batch fails only that command; the rest run, in order", async () => {
    const replies = await client.execute([
      commands.setServerWeight("be", "s2", 5),
      commands.setServerWeight("be", "nosuch", 5),
      commands.setServerWeight("nobackend", "s2", 5),
      commands.delServer("be", "s1"),
      commands.setServerWeight("be", "s2", 6),
    ]);
    assert.deepEqual(replies.map((reply) => reply.ok), [true, false, false, false, true]);
    assert.match(replies[1]!.output, /No such server/);
    assert.match(replies[2]!.output, /No such backend|No such server/);
    assert.match(replies[3]!.output, /maintenance/);
    assert.equal((await client.showServersState("be")).find((row) => row.serverName === "s2")?.userWeight, 6);
  });

  test("2,000 commands on one connection: 2,000 replies, all ok, in order", async () => {
    const batch: RuntimeCommand[] = [];
    for (let slot = 1; slot <= 2000; slot += 1) batch.push(commands.setServerWeight("be", `s${slot}`, (slot % 200) + 1));
    const started = process.hrtime.bigint();
    const replies = await client.execute(batch);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`# 2000 commands on one connection: ${elapsedMs.toFixed(1)} ms`);
    assert.equal(replies.length, 2000);
    assert.ok(replies.every((reply) => reply.ok));
    assert.deepEqual(replies.map((reply) => reply.command), batch.map((command) => command.text));
    const weights = new Map((await client.showServersState("be")).map((row) => [row.serverName, row.userWeight]));
    assert.equal(weights.get("s1999"), (1999 % 200) + 1);
  });

  test("a session keeps one connection for several batches", async () => {
    const info = await client.showInfo();
    await client.session(async (session) => {
      const first = await session.execute([commands.showInfo()]);
      const second = await session.execute([commands.setServerWeight("be", "s3", 9), commands.showInfo()]);
      assert.match(first[0]!.output, new RegExp(`Pid: ${info.pid}`));
      assert.deepEqual(second.map((reply) => reply.ok), [true, true]);
    });
  });

  test("add server and del server round trip", async () => {
    const added = await client.execute([commands.addServer("be", "extra1", "127.0.0.1", 8090, ["check", "inter", "1s"])]);
    assert.equal(added[0]!.ok, true, added[0]!.output);
    assert.equal((await client.showServersState("be")).some((row) => row.serverName === "extra1"), true);
    const deleted = await client.execute([commands.setServerState("be", "extra1", "maint"), commands.delServer("be", "extra1")]);
    assert.deepEqual(deleted.map((reply) => reply.ok), [true, true], JSON.stringify(deleted));
  });

  test("unix socket works too", async () => {
    const directory = haproxy.directory;
    const socketPath = join(directory, "admin.sock");
    const secondPort = await freePort();
    const second = await startHaproxy({
      adminPort: secondPort,
      config: `global\n    stats socket ${socketPath} mode 600 level admin\n    stats socket ipv4@127.0.0.1:${secondPort} level admin\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend other\n    server-template t 1-2 0.0.0.0:80 disabled init-addr none\n`,
    });
    try {
      const overUnix = new RuntimeApiClient(socketPath);
      const rows = await overUnix.showServersState("other");
      assert.deepEqual(rows.map((row) => row.serverName), ["t1", "t2"]);
    } finally {
      await second.stop();
    }
  });

  test("a closed port fails fast with advice", async () => {
    const closed = new RuntimeApiClient(`127.0.0.1:${await freePort()}`, { timeoutMs: 2000 });
    const started = Date.now();
    await assert.rejects(closed.showInfo(), (error: unknown) => error instanceof RuntimeApiError && /ECONNREFUSED.*stats socket/.test(error.message));
    assert.ok(Date.now() - started < 2000);
  });
});
