// The runtime API client against a real HAProxy, over TCP and a unix socket.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { adminSections, startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { commands, RuntimeApiClient, RuntimeApiError, type RuntimeCommand, type RuntimeSession } from "../../../handler/haproxy-runtime-api/index.js";
import { eventually } from "../../harness/eventually.js";

/** Commands the handler never sends, for reading HAProxy's state back in tests. */
function getWeight(backend: string, server: string): RuntimeCommand {
  return { text: `get weight ${backend}/${server}`, succeeded: (output) => /^\d+ \(initial \d+\)/.test(output) };
}
function showSess(): RuntimeCommand {
  return { text: "show sess", succeeded: (output) => !/Unknown command/.test(output) };
}

describe("haproxy-runtime-api against HAProxy", async () => {
  const adminPort = await freePort();
  const haproxy = await startHaproxy({
    adminPort,
    config: `
${adminSections(adminPort, { stats: "10s", connect: "1s", clientAndServer: "5s" })}backend be
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

  test("2,000 commands on one connection: 2,000 replies, all ok, each reply is its own command's", async () => {
    const batch: RuntimeCommand[] = [];
    const weightOf = (slot: number) => (slot % 200) + 1;
    for (let slot = 1; slot <= 2000; slot += 1) batch.push(commands.setServerWeight("be", `s${slot}`, weightOf(slot)));
    const replies = await client.execute(batch);
    assert.equal(replies.length, 2000);
    assert.ok(replies.every((reply) => reply.ok));
    // Order is proven by HAProxy's answers, not by the command text the
    // client copies from its input: `get weight` answers with the slot's own
    // weight, so a reply attached to the wrong command shows.
    const reads = Array.from({ length: 2000 }, (_, index) => getWeight("be", `s${index + 1}`));
    const answers = await client.execute(reads);
    assert.equal(answers.length, 2000);
    const mismatched = answers.map((reply, index) => ({ slot: index + 1, output: reply.output })).filter(({ slot, output }) => !output.startsWith(`${weightOf(slot)} (initial 1)`));
    assert.deepEqual(mismatched.slice(0, 5), [], "every reply answers its own command, in order");
  });

  test("a session keeps one connection for several batches", async () => {
    // HAProxy lists the CLI's own session in `show sess` with its source
    // port: one connection means one and the same source port every time.
    const ownSource = (output: string): string[] => output.split("\n").filter((line) => / fe=GLOBAL /.test(line) && / src=127\.0\.0\.1:/.test(line)).map((line) => /src=(127\.0\.0\.1:\d+)/.exec(line)?.[1] ?? "");
    let seen: string[][] = [];
    // A connection of an earlier test may still be closing (listed once more on a loaded machine): asked again until ours is the only one.
    for (let attempt = 0; attempt < 20 && seen[0]?.length !== 1; attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      seen = [];
      await client.session(async (session) => {
        const first = await session.execute([showSess()]);
        const second = await session.execute([commands.setServerWeight("be", "s3", 9), showSess()]);
        const third = await session.execute([showSess()]);
        assert.deepEqual(second.map((reply) => reply.ok), [true, true]);
        seen.push(ownSource(first[0]!.output), ownSource(second[1]!.output), ownSource(third[0]!.output));
      });
    }
    assert.equal(seen[0]!.length, 1, `one CLI session listed: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen, [seen[0], seen[0], seen[0]], "the same connection answered every batch");
    // And a new session is a new connection.
    const other = await client.session(async (session) => ownSource((await session.execute([showSess()]))[0]!.output));
    assert.notDeepEqual(other, seen[0]);
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

  test("a closed port fails with ECONNREFUSED and advice", async () => {
    const closed = new RuntimeApiClient(`127.0.0.1:${await freePort()}`, { timeoutMs: 2000 });
    await assert.rejects(closed.showInfo(), (error: unknown) => error instanceof RuntimeApiError && /ECONNREFUSED.*stats socket/.test(error.message));
  });
  test("keptSession: calls in a row share one connection; closeKept, or one in use while it is called, ends it", async () => {
    const kept = new RuntimeApiClient(`127.0.0.1:${adminPort}`);
    /**
     * The source port of the one CLI connection open (the tests of this file
     * run one at a time). A connection the client just closed can still be
     * listed for a moment, until HAProxy has seen the close: ask again.
     */
    const portOf = (session: RuntimeSession): Promise<string> =>
      eventually(
        async () => [...((await session.execute([showSess()]))[0]?.output ?? "").matchAll(/src=127\.0\.0\.1:(\d+) fe=GLOBAL/g)].map((match) => match[1] ?? ""),
        (ports) => ports.length === 1,
        "exactly one CLI connection in show sess",
      ).then((ports) => ports[0] ?? "");
    const ownPort = (): Promise<string> => kept.keptSession((session) => portOf(session));
    const first = await ownPort();
    assert.equal(await ownPort(), first, "the second call runs on the first call's connection");
    kept.closeKept();
    const third = await ownPort();
    assert.notEqual(third, first, "a new connection after closeKept");
    const during = await kept.keptSession(async (session) => {
      kept.closeKept();
      return portOf(session);
    });
    assert.equal(during, third, "the connection in use is not cut");
    assert.notEqual(await ownPort(), during, "but not kept after a closeKept while it was in use");
    kept.closeKept();
  });
});
