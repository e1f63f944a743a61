// A freshly filled slot with the role's check timings and the hold-down
// (issue #20): what HAProxy 2.6, 3.0 and 3.2 do, which the README's
// "Hold-down" paragraph and the firstcheck benchmark rest on.
// - The fill (the applier's commands, in its order: addr, state ready,
//   health down) leaves the slot DOWN: no traffic before HAProxy's own check.
// - A slot in MAINT has its check task paused; a paused task is rescheduled
//   every `inter`, whatever downinter or fastinter say (src/check.c,
//   process_chk_conn, label `reschedule`), and no runtime command brings it
//   forward. So the first check comes within `inter` of the fill, the slot
//   is UP (rise 2) one `fastinter` later: within inter + (rise - 1) x
//   fastinter, never held for `downinter` (10 s, the timing of a server
//   that is DOWN with health 0, which is what `health down` leaves).
// (Right after HAProxy starts, the first ticks are spread over downinter
// instead: see the wait below.)
// Several slots are filled at once: their ticks fall at different points
// of `inter`, so one run sees early and late first checks.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { adminSections, startHaproxy } from "../../harness/haproxy.js";
import { startNode } from "../../harness/backends.js";
import { freePort } from "../../harness/ports.js";
import { repositoryRoot } from "../../harness/cli.js";
import { commands, RuntimeApiClient, type RuntimeCommand } from "../../../handler/haproxy-runtime-api/index.js";

const defaults = parse(readFileSync(join(repositoryRoot, "roles/haproxy/defaults/main.yml"), "utf8")) as Record<string, unknown>;

/** A role duration ("5s", "250ms") in ms. */
function millis(name: string): number {
  const value = String(defaults[name]);
  const match = /^(\d+)(ms|s)$/.exec(value);
  if (!match) throw new Error(`${name}: ${value} is not a duration this test reads (Nms or Ns)`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : 1);
}

const inter = millis("haproxy_check_inter");
const fastinter = millis("haproxy_check_fastinter");
const downinter = millis("haproxy_check_downinter");
const rise = Number(defaults["haproxy_check_rise"]);
const fall = Number(defaults["haproxy_check_fall"]);
/** Generous: a loaded 2-core machine; still far below downinter. */
const MARGIN_MS = 3000;

function showStat(backend: string): RuntimeCommand {
  return commands.showStat(backend);
}

describe("a freshly filled slot's first check (role timings, hold-down on)", async () => {
  const node = await startNode("first-check");
  const adminPort = await freePort();
  const slots = 6;
  const haproxy = await startHaproxy({
    adminPort,
    config: `
${adminSections(adminPort, { stats: "1m", connect: "1s", clientAndServer: "5s", check: "1s" })}backend be
    balance roundrobin
    option httpchk GET /health
    default-server inter ${defaults["haproxy_check_inter"]} fastinter ${defaults["haproxy_check_fastinter"]} downinter ${defaults["haproxy_check_downinter"]} rise ${rise} fall ${fall}
    server-template s 1-${slots} 0.0.0.0:80 check disabled init-addr none
`,
  });
  after(async () => {
    await haproxy.stop();
    await node.stop();
  });
  const client = new RuntimeApiClient(`127.0.0.1:${adminPort}`);
  const statuses = async (): Promise<Map<string, string>> => {
    const [reply] = await client.execute([showStat("be")]);
    const lines = (reply?.output ?? "").trim().split("\n");
    const header = (lines[0] ?? "").replace(/^# /, "").split(",");
    const rows = lines.slice(1).map((line) => line.split(","));
    return new Map(rows.map((row) => [row[header.indexOf("svname")] ?? "", row[header.indexOf("status")] ?? ""]));
  };

  test("the role's timings are what this test assumes: downinter is longer than the bound it asserts", () => {
    assert.ok(downinter > inter + (rise - 1) * fastinter + MARGIN_MS, `downinter ${downinter} ms would hide a slot held for downinter`);
  });

  test(`held DOWN until HAProxy's own check, then UP within inter + (rise - 1) x fastinter (+${MARGIN_MS} ms)`, async () => {
    // A fresh HAProxy spreads the slots' first ticks over the largest
    // interval a slot starts with (downinter: a `disabled` slot starts DOWN),
    // src/check.c start_check_task; every tick after that is `inter` apart.
    // Wait for one of those first ticks to pass, as on a load balancer that
    // has been up a while.
    await new Promise((resolve) => setTimeout(resolve, downinter + 500));
    const names = Array.from({ length: slots }, (_, index) => `s${index + 1}`);
    const fill = names.flatMap((name) => [commands.setServerAddr("be", name, "127.0.0.1", node.port), commands.setServerState("be", name, "ready"), commands.setServerHealth("be", name, "down")]);
    const filledAt = performance.now();
    const replies = await client.execute(fill);
    assert.ok(replies.every((reply) => reply.ok), JSON.stringify(replies));
    const first = await statuses();
    for (const name of names) assert.match(first.get(name) ?? "", /^DOWN/, `${name} right after the fill: held DOWN until HAProxy's check`);

    const upAt = new Map<string, number>();
    const bound = inter + (rise - 1) * fastinter + MARGIN_MS;
    while (upAt.size < names.length && performance.now() - filledAt < bound + 2000) {
      const now = await statuses();
      const at = performance.now() - filledAt;
      for (const name of names) if (!upAt.has(name) && now.get(name) === "UP") upAt.set(name, at);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const report = names.map((name) => `${name}: ${upAt.has(name) ? `${Math.round(upAt.get(name) ?? 0)} ms` : "not UP"}`).join(", ");
    for (const name of names) {
      const at = upAt.get(name);
      assert.ok(at !== undefined && at <= bound, `${name} UP within ${bound} ms of the fill (${report})`);
      // One check cannot bring it UP (rise 2): at least fastinter after the first check.
      assert.ok(at >= (rise - 1) * fastinter - 50, `${name} UP no sooner than (rise - 1) x fastinter (${report})`);
    }
  });
});
