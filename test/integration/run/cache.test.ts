// `run` keeps a cached view of HAProxy's slots, updated from the replies of
// its own commands: a change to one service does not read HAProxy again, so
// a manual change over the admin socket stays until the periodic resync
// repairs it; a draining slot's row is read again on its own, so it is freed
// once its sessions end, without a full read.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { startNode, type TestNode } from "../../harness/backends.js";
import { startCli, type RunningCli } from "../../harness/cli.js";
import { commands } from "../../../handler/haproxy-runtime-api/index.js";
import { eventually, logLines, startStack, ttlRegistration, type Stack } from "../handler/stack.js";

const nodes: TestNode[] = [];
const running: RunningCli[] = [];
const servers: Server[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
  await Promise.all(nodes.map((node) => node.stop()));
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function node(name: string): Promise<TestNode> {
  const started = await startNode(name);
  nodes.push(started);
  return started;
}

function startRun(stack: Stack): RunningCli {
  const cli = startCli(["--config", stack.configFile, "run"]);
  running.push(cli);
  return cli;
}

/** The `reconciled` log lines, in order. */
function reconciles(cli: RunningCli): Record<string, unknown>[] {
  return logLines(cli.logs()).filter((line) => line["message"] === "reconciled");
}

/** A node that answers its health check and holds every other request until released: an open session. */
async function holdingNode(): Promise<{ port: number; held: () => number; release: () => void }> {
  const waiting: ServerResponse[] = [];
  const server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    if (incoming.url === "/health") {
      response.end("ok");
      return;
    }
    waiting.push(response);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    held: () => waiting.length,
    release: () => {
      for (const response of waiting.splice(0)) response.end("done");
    },
  };
}

describe("run's cached view of HAProxy", () => {
  test("a manual 'set server' is left alone by changes to other and to its own service, and repaired by the next resync", async () => {
    const resyncSeconds = 12;
    // Two services: iri in main_back, api in pow_back.
    const stack = await startStack({
      slots: 4,
      handler: (base) => {
        const iriOnly = { ...(base["services"] as Record<string, unknown>[])[0] };
        delete iriOnly["powBackend"];
        delete iriOnly["powDefaults"];
        return {
          ...base,
          run: { resyncSeconds },
          services: [iriOnly, { name: "api", backend: "pow_back", slotPrefix: "srv", defaults: { weight: 1, maxconn: 0 } }],
        };
      },
    });
    const a = await node("a");
    const b = await node("b");
    const c = await node("c");
    await stack.consul.register(ttlRegistration("a", a.port));
    const cli = startRun(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP", 15_000);
    const startedAt = Date.now();

    // The operator drifts a's slot by hand.
    const drift = await stack.admin.execute([commands.setServerWeight("main_back", "srv1", 77), commands.setServerState("main_back", "srv1", "drain")]);
    assert.ok(drift.every((reply) => reply.ok), JSON.stringify(drift));
    const before = reconciles(cli).length;
    // A change to the other service, then one to a's own service: both are
    // planned from the cache, which still has a's slot as the handler left it.
    await stack.consul.register({ ...ttlRegistration("b", b.port), Name: "api" });
    await eventually(() => stack.stat("srv1", "pow_back"), (row) => row.status === "UP", "b UP in pow_back", 15_000);
    await stack.consul.register(ttlRegistration("c", c.port));
    await eventually(() => stack.stat("srv2"), (row) => row.status === "UP", "c UP in main_back", 15_000);
    // HAProxy has c's slot before the handler logs the reconcile that filled it: wait for the line.
    const since = await eventually(() => Promise.resolve(reconciles(cli).slice(before)), (lines) => lines.length >= 2, "both reconciles logged", 5_000);
    assert.ok(Date.now() - startedAt < resyncSeconds * 1000, "the check below ran before the first resync (a very slow machine would make it prove nothing)");
    const untouched = await stack.stat("srv1");
    assert.equal(untouched["weight"], "77", "not repaired by a reconcile of its own backend before a resync: HAProxy was not read again");
    assert.equal(untouched["status"], "DRAIN");
    assert.ok(since.every((line) => line["haproxyRead"] === "cached"), `reconciles since the drift read the cache: ${JSON.stringify(since)}`);

    // The resync reads HAProxy in full and repairs both.
    const repaired = await eventually(() => stack.stat("srv1"), (row) => row["weight"] === "1" && row.status === "UP", "the resync repaired a's slot", (resyncSeconds + 10) * 1000);
    assert.equal(repaired["weight"], "1");
    assert.ok(reconciles(cli).some((line) => line["haproxyRead"] === "full" && (line["applied"] as number) >= 1), "a full read applied the repair");
    assert.equal(await cli.stop(), 0);
  });

  test("a draining slot is kept while its session lasts and freed once it ends, from its own row, without a full read", async () => {
    const stack = await startStack({ slots: 4, handler: (base) => ({ ...base, policy: { warningAs: "ready", drainSeconds: 60 }, run: { resyncSeconds: 600 } }) });
    const holder = await holdingNode();
    const other = await node("other");
    await stack.consul.register(ttlRegistration("holder", holder.port));
    await stack.consul.register(ttlRegistration("other", other.port));
    const cli = startRun(stack);
    const slotOf = async () => (await stack.servers("main_back")).find((row) => row["addr"] === `127.0.0.1:${holder.port}`);
    const slot = await eventually(slotOf, (row) => row?.status === "UP", "the holding node UP", 15_000);
    const name = slot?.svname ?? "";

    // An open session on the holding node: a request it does not answer yet.
    const pending = new Promise<number>((resolve, reject) => {
      const sent = request({ host: "127.0.0.1", port: stack.frontendPort, path: "/slow", agent: false }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      });
      sent.on("error", reject);
      sent.end();
    });
    // Round robin over two nodes: send until one request is held.
    const extra: Promise<unknown>[] = [];
    await eventually(
      async () => {
        if (holder.held() === 0) extra.push(fetch(`http://127.0.0.1:${stack.frontendPort}/`).then((response) => response.text()));
        return holder.held();
      },
      (held) => held >= 1,
      "a request held by the holding node",
    );
    await eventually(() => stack.stat(name), (row) => Number(row["scur"]) >= 1, "HAProxy counts the session");

    await stack.consul.deregister("holder");
    await eventually(() => stack.stat(name), (row) => row.status === "DRAIN", "the slot draining");
    const drainedAt = reconciles(cli).length;
    // Two drain rechecks with the session open: the slot stays (its row says 1 session).
    await eventually(() => Promise.resolve(reconciles(cli).slice(drainedAt)), (lines) => lines.filter((line) => line["draining"] === 1).length >= 2, "two rechecks while the session lasts");
    assert.equal((await stack.stat(name)).status, "DRAIN", "kept while its session lasts");

    holder.release();
    await pending;
    await Promise.all(extra);
    await eventually(() => stack.stat(name), (row) => row.status === "MAINT" && row["addr"]?.startsWith("0.0.0.0") === true, "the slot freed once the session ended", 15_000);
    // The handler logs its steps after HAProxy has them: wait for the line, do not race it.
    await eventually(
      () => Promise.resolve(logLines(cli.logs())),
      (lines) => lines.some((line) => line["message"] === "free: drained" && line["slot"] === `main_back/${name}`),
      "the 'free: drained' line for the slot",
    );
    // Two rechecks and the reconcile that freed it (its line comes last).
    const afterDrain = await eventually(() => Promise.resolve(reconciles(cli).slice(drainedAt)), (lines) => lines.length >= 3, "the reconcile lines since the drain");
    assert.ok(afterDrain.every((line) => line["haproxyRead"] === "cached"), `no full read after the drain: ${JSON.stringify(afterDrain)}`);
    assert.equal(await cli.stop(), 0);
  });
});
