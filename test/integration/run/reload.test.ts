// Hitless reloads and restarts of HAProxy: `run` keeps the slots file
// (haproxy.slotsFile) current, so HAProxy in master-worker mode, reloaded or
// restarted under wrk keep-alive load, comes back with every node in ITS
// slot, UP, with its weight and maxconn, and the reload costs no request.
//
// "Hitless" for a restart (stop + start): established connections cannot
// survive it, and while no process listens connections are refused (wrk
// counts them; the figure is in the churn benchmark). What must hold: the
// moment the new process answers, every node is in its slot, UP, with its
// weight and maxconn, and the very first requests get 200 (no 503 window
// waiting for the handler or for `rise` checks).
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { masterWorkerSections, startMasterWorker } from "../../harness/haproxy-master.js";
import { freePort } from "../../harness/ports.js";
import { startCli, whileHandlerPaused, writeHandlerConfig, type RunningCli } from "../../harness/cli.js";
import { eventually } from "../../harness/eventually.js";
import type { StatRow } from "../../../handler/haproxy-runtime-api/index.js";
import { startNodeProcess, startWrk } from "../../harness/load.js";

const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
});

async function requestsServed(admin: { showStat(): Promise<StatRow[]> }): Promise<number> {
  const row = (await admin.showStat()).find((candidate) => candidate.pxname === "main_back" && candidate.svname === "BACKEND");
  return Number(row?.["stot"] ?? 0);
}

interface SlotView {
  addr: string;
  status: string;
  weight: string;
  maxconn: string;
}

/** server name -> what HAProxy reports, for the slots in use (a freed slot is MAINT, its old address kept). */
function filledSlots(rows: readonly StatRow[]): Record<string, SlotView> {
  const view: Record<string, SlotView> = {};
  for (const row of rows) {
    if (row.pxname !== "main_back" || !row.svname.startsWith("srv") || (row["addr"] ?? "").startsWith("0.0.0.0") || row["status"] === "MAINT") continue;
        // "UP 1/2" (UP, one check short of full health, as a new process starts) is UP.
    view[row.svname] = { addr: row["addr"] ?? "", status: (row["status"] ?? "").split(" ")[0] ?? "", weight: row["weight"] ?? "", maxconn: row["slim"] ?? "" };
  }
  return view;
}

describe("HAProxy reloaded and restarted under load", async () => {
  const directory = mkdtempSync(join(tmpdir(), "cht-reload-"));
  const consul = await startConsul();
  const adminPort = await freePort();
  const frontendPort = await freePort();
  const stateFile = join(directory, "server-state");
  const mainFile = join(directory, "haproxy.cfg");
  const template = join(directory, "slots.cfg.in");
  const output = join(directory, "slots.cfg");
  writeFileSync(
    mainFile,
    `${masterWorkerSections({ adminPort, stateFile, timeouts: { connect: "1s", clientAndServer: "10s" } })}frontend front
    bind 127.0.0.1:${frontendPort}
    default_backend main_back
`,
  );
  writeFileSync(
    template,
    `backend main_back
    balance roundrobin
    option httpchk GET /health
    server-template srv 1-6 0.0.0.0:80 check inter 300ms rise 3 fall 2 disabled init-addr none
`,
  );
  // What the playbook installs before the handler first runs.
  copyFileSync(template, output);
  const haproxy = await startMasterWorker({ configFiles: [mainFile, output], masterSocket: join(directory, "master.sock"), adminAddress: `127.0.0.1:${adminPort}`, stateFile });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const configFile = writeHandlerConfig({
    consul: { address: consul.address, timeoutMs: 2000 },
    haproxy: { socket: `127.0.0.1:${adminPort}`, timeoutMs: 2000, slotsFile: { template, output } },
    policy: { drainSeconds: 0 },
    services: [{ name: "iri", backend: "main_back", slotPrefix: "srv" }],
  });
  const cli = startCli(["--config", configFile, "run"]);
  running.push(cli);

  const register = (id: string, node: { address: string; port: number }, weight: number, maxconn: number) =>
    consul.register({ ID: id, Name: "iri", Address: node.address, Port: node.port, Meta: { haproxy_weight: String(weight), haproxy_maxconn: String(maxconn) }, Check: { CheckID: `ttl-${id}`, TTL: "1h", Status: "passing" } });

  // Four nodes fill slots 1-4; the first leaves, so the others sit in slots
  // 2-4: a refill after a reload (lowest free slot first) would move them.
  for (const [index, name] of ["a", "b", "c", "d"].entries()) {
    const node = await startNodeProcess(name);
    await register(name, node, index + 2, 10 * (index + 1));
  }
  await eventually(async () => filledSlots(await haproxy.admin.showStat()), (view) => Object.values(view).filter((slot) => slot.status === "UP").length === 4, "four nodes UP");
  await consul.deregister("a");
  const before = await eventually(
    async () => filledSlots(await haproxy.admin.showStat()),
    (view) => Object.keys(view).join() === "srv2,srv3,srv4" && Object.values(view).every((slot) => slot.status === "UP"),
    "nodes b, c, d UP in slots 2-4, slot 1 free",
  );
  await eventually(async () => readFileSync(output, "utf8"), (text) => (text.match(/^\s*server srv\d.*weight \d+ maxconn \d+$/gm) ?? []).length === 3, "the slots file names the three nodes");
  assert.deepEqual(
    Object.values(before).map((slot) => `${slot.weight}/${slot.maxconn}`),
    ["3/20", "4/30", "5/40"],
  );

  test("reloads under keep-alive load: 0 non-2xx, 0 socket errors, every node in its slot with weight and maxconn", async () => {
    const wrk = startWrk(frontendPort);
    const trafficAfter = async (count: number) => eventually(() => requestsServed(haproxy.admin), (served) => served > count + 100, "traffic through HAProxy");
    await trafficAfter(await requestsServed(haproxy.admin));
    // Five reloads: a lost keep-alive request is a race, one reload may miss it.
    const seen: Record<string, SlotView>[] = [];
    for (let reload = 0; reload < 5; reload += 1) {
      // The new worker's own view, from the slots and state files: `run`
      // re-applies weight and maxconn on a new worker within a moment, so it
      // is paused over the reload and the read, and cannot have repaired them.
      seen.push(await whileHandlerPaused(cli, async () => {
        await haproxy.reload();
        return filledSlots(await haproxy.admin.showStat());
      }));
    }
    await trafficAfter(0);
    const result = { output: await wrk.finish() };
    for (const after of seen) assert.deepEqual(after, before, "every node in its slot, UP, with its weight and maxconn, right after each reload");
    assert.match(result.output, /\d+ requests in/, result.output);
    assert.doesNotMatch(result.output, /Non-2xx or 3xx responses/, result.output);
    assert.doesNotMatch(result.output, /Socket errors/, result.output);
  });

  test("a restart: every node in its slot, UP, with weight and maxconn as soon as HAProxy answers; no 503 window", async () => {
    // As for the reloads: the view before `run` could repair anything.
    const after = await whileHandlerPaused(cli, async () => {
      await haproxy.restart();
      return filledSlots(await haproxy.admin.showStat());
    });
    const statuses: number[] = [];
    for (let request = 0; request < 20; request += 1) statuses.push((await fetch(`http://127.0.0.1:${frontendPort}/`)).status);
    assert.deepEqual(after, before, "every node in its slot right after the restart");
    assert.deepEqual(new Set(statuses), new Set([200]), `first requests after the restart: ${statuses.join(",")}`);
  });

  test("a mass removal held across a restart: the held nodes come back from the slots file and stay held", async () => {
    const heldLines = () => cli.logs().split("\n").filter((line) => line.includes('"message":"mass removal held: nodes kept as they are"')).length;
    // One answer in which all three leave: the node (every instance is on this agent) goes into maintenance.
    assert.equal((await consul.api("PUT", "/v1/agent/maintenance?enable=true&reason=test")).status, 200);
    await eventually(async () => heldLines(), (count) => count > 0, "the removal of all three held", 30_000);
    assert.deepEqual(filledSlots(await haproxy.admin.showStat()), before, "held: nothing drained");
    const heldBefore = heldLines();
    await haproxy.restart();
    assert.deepEqual(filledSlots(await haproxy.admin.showStat()), before, "every held node in its slot as soon as HAProxy answers");
    // The handler's reconcile of the restart holds the same removal again, and changes nothing.
    await eventually(async () => heldLines(), (count) => count > heldBefore, "the restart reconciled, the removal still held", 30_000);
    assert.deepEqual(filledSlots(await haproxy.admin.showStat()), before, "still in their slots after the handler's reconcile");
  });
});
