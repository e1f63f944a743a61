// The mass-removal guard when Consul restarts empty, and for one-shot `sync`, against a real Consul and HAProxy: an answer that
// would take most of a backend out of rotation is held, the nodes keep
// serving, and the hold ends when the operator says so or the same answer
// has stood for policy.massRemovalHoldSeconds.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { eventually, hasLog, startStack, ttlRegistration } from "../handler/stack.js";
import { holdSince, loggedAt, node, startFaultStack } from "./fault-stack.js";

const heldLog = { message: "mass removal held: nodes kept as they are", backend: "main_back" };

describe("mass-removal guard: empty catalog and one-shot sync", () => {
  test("Consul restarted with an empty catalog: run holds every node; sync --allow-mass-removal lets them go", async () => {
    const lab = await startFaultStack();
    const before = await lab.serving();
    assert.equal(before.length, 4);

    await lab.stack.consul.restartEmpty();
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, heldLog), "the hold logged", 30_000);
    const health = await eventually(() => lab.healthz(), (answer) => answer.status === 503, "healthz 503");
    assert.match(health.text, /mass removal held in main_back: Consul's answer would take 4 of 4 serving nodes out/);
    assert.equal(await lab.metric('consul_haproxy_handler_mass_removal_held{backend="main_back"}'), 4);
    assert.deepEqual(await lab.serving(), before, "every node still in its slot, UP");
    assert.equal((await lab.stack.request()).status, 200, "the backend still serves");

    const status = await lab.stack.cli(["status"]);
    assert.match(status.stdout, /WARNING: mass removal held in main_back since/);
    const sync = await lab.stack.sync();
    assert.equal(sync.code, 1, "a plain sync refuses the mass removal");
    assert.ok(hasLog(sync.stderr, heldLog), sync.stderr);
    assert.deepEqual(await lab.serving(), before, "still serving after the refused sync");
    const dryRun = await lab.stack.cli(["sync", "--dry-run"]);
    assert.match(dryRun.stdout, /^# held: mass removal held in main_back: .* srv1 127\.0\.0\.1:\d+/m, dryRun.stdout);
    assert.doesNotMatch(dryRun.stdout, /state (drain|maint)/, "the dry run shows no removal either");

    const allowed = await lab.stack.cli(["sync", "--allow-mass-removal"]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(hasLog(allowed.stderr, { message: "mass removal applied", why: "allowed by the operator" }), allowed.stderr);
    await eventually(() => lab.serving(), (rows) => rows.length === 0, "all four drained, then freed", 30_000);
    await eventually(() => lab.healthz(), (answer) => answer.status === 200, "healthy once the removal is done", 30_000);
    assert.equal(await lab.metric('consul_haproxy_handler_mass_removal_held{backend="main_back"}'), 0);
    assert.equal(await lab.cli.stop(), 0);
  });

  test("one-shot sync: refuses and exits 1; the hold releases on a later sync after the hold time (state beside lockFile)", async () => {
    // Long enough that the next sync starts within it even on a loaded
    // machine (a sync is a Node start plus reads of Consul and HAProxy; at
    // 4 s, one CI run's first re-sync began after the hold time was over).
    const holdSeconds = 20;
    const stack = await startStack({
      slots: 8,
      handler: (base) => ({ ...base, policy: { ...(base["policy"] as Record<string, unknown>), massRemovalHoldSeconds: holdSeconds } }),
    });
    const started = await Promise.all([0, 1, 2, 3].map((index) => node(`s${index}`)));
    for (const [index, each] of started.entries()) await stack.consul.register(ttlRegistration(`s${index}`, each.port));
    assert.equal((await stack.sync()).code, 0);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 4, "four UP");

    for (const index of [0, 1, 2, 3]) await stack.consul.deregister(`s${index}`);
    const refused = await stack.sync();
    assert.equal(refused.code, 1, refused.stderr);
    assert.ok(hasLog(refused.stderr, heldLog), refused.stderr);
    const lockFile = `${stack.configFile.replace(/config\.yml$/, "")}handler.lock`;
    assert.ok(existsSync(`${lockFile}.mass-removal.json`), "the first-seen time is kept beside the lock file");
    assert.equal((await stack.servers("main_back")).filter((row) => row.status === "UP").length, 4, "nothing drained");

    // Every sync until the hold time is over reads the same answer: a guard
    // that let go on the next identical answer would release on the first.
    const since = holdSince(stack, "main_back");
    let refusedAgain = 0;
    const released = await eventually(
      () => stack.sync(),
      (result) => {
        if (result.code !== 0) refusedAgain += 1;
        return result.code === 0;
      },
      "a sync after the hold time applies the removal",
      60_000,
      { intervalMs: 2_000 },
    );
    const releasedLog = { message: "mass removal applied", why: "hold time over" };
    assert.ok(hasLog(released.stderr, releasedLog), released.stderr);
    assert.ok(refusedAgain >= 1, "the same answer was refused again before the hold time was over");
    const heldFor = loggedAt(released.stderr, releasedLog) - since;
    assert.ok(heldFor >= holdSeconds * 1000, `released ${heldFor} ms after the removal was first seen; the hold time is ${holdSeconds} s`);
    assert.equal(existsSync(`${lockFile}.mass-removal.json`), false, "the state file is gone once nothing is held");
  });
});
