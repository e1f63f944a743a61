// The mass-removal guard under `run`, against a real Consul and HAProxy: an answer that
// would take most of a backend out of rotation is held, the nodes keep
// serving, and the hold ends when the operator says so or the same answer
// has stood for policy.massRemovalHoldSeconds.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, hasLog, logLines } from "../handler/stack.js";
import { holdSince, loggedAt, startFaultStack } from "./fault-stack.js";

const heldLog = { message: "mass removal held: nodes kept as they are", backend: "main_back" };

describe("mass-removal guard under run", () => {
  test("an empty answer with Consul's headers (fault proxy): held, then released when the nodes are back", async () => {
    const lab = await startFaultStack();
    const before = await lab.serving();
    lab.proxy.mode = "empty";
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, heldLog), "the hold logged", 30_000);
    assert.equal((await lab.healthz()).status, 503);
    assert.deepEqual(await lab.serving(), before);
    lab.proxy.mode = "pass";
    await eventually(() => lab.healthz(), (answer) => answer.status === 200, "healthy again, nothing held", 30_000);
    assert.deepEqual(await lab.serving(), before, "nothing was drained");
    assert.equal(await lab.cli.stop(), 0);
  });

  test("run releases the hold by itself once the same answer has stood for massRemovalHoldSeconds, not before", async () => {
    // 10 s: room for three held reconciles on a loaded machine (see empty-catalog.test).
    const holdSeconds = 10;
    const lab = await startFaultStack({ policy: { massRemovalHoldSeconds: holdSeconds } });
    // One answer in which every node is gone (deregistering one by one would be churn).
    lab.proxy.mode = "empty";
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, heldLog), "the hold logged", 30_000);
    const since = holdSince(lab.stack, "main_back");
    assert.equal((await lab.serving()).length, 4, "held: all four still serve");
    const released = { message: "mass removal applied", why: "hold time over" };
    // A trigger every half second: each reconcile reads the same empty answer
    // again, so a guard that let go on the next identical answer would release
    // within a second, well before the hold time.
    const trigger = (): Promise<string> => fetch(`http://${lab.listen}/watch`, { method: "POST", body: "{}" }).then(() => lab.cli.logs());
    await eventually(trigger, (logs) => hasLog(logs, released), "released after the hold time", 45_000, { intervalMs: 500 });
    const heldReconciles = logLines(lab.cli.logs()).filter((line) => line["message"] === "reconciled" && line["held"] === 4).length;
    assert.ok(heldReconciles >= 3, `the same answer was read again while held (${heldReconciles} reconciles held it)`);
    const heldFor = loggedAt(lab.cli.logs(), released) - since;
    assert.ok(heldFor >= holdSeconds * 1000, `released ${heldFor} ms after the removal was first seen; the hold time is ${holdSeconds} s`);
    await eventually(() => lab.serving(), (rows) => rows.length === 0, "all four drained and freed", 30_000);
    assert.equal(await lab.cli.stop(), 0);
  });

  test("a held removal survives an HAProxy restart without a slots file: the held nodes are put back in their slots", async () => {
    const lab = await startFaultStack();
    const before = await lab.serving();
    lab.proxy.mode = "empty";
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, heldLog), "the hold logged", 30_000);
    await lab.stack.haproxy.restart();
    // The new process starts with every slot empty; the handler puts the held nodes back, each in its slot.
    await eventually(() => lab.serving(), (rows) => JSON.stringify(rows) === JSON.stringify(before), "the held nodes back in their slots, UP", 30_000);
    assert.ok(hasLog(lab.cli.logs(), { message: "restore: a held node HAProxy lost in a restart" }), "said so");
    assert.equal((await lab.healthz()).status, 503, "still held");
    assert.equal((await lab.stack.request()).status, 200, "the backend serves");
    lab.proxy.mode = "pass";
    await eventually(() => lab.healthz(), (answer) => answer.status === 200, "healthy again, nothing held", 30_000);
    assert.deepEqual(await lab.serving(), before, "nothing was drained");
    assert.equal(await lab.cli.stop(), 0);
  });

  test("normal churn is never held: three of six leave in one answer (at the minimum, not more than the fraction)", async () => {
    // Three is policy.massRemovalMinNodes (default 3), so the fraction rule
    // decides: 3 of 6 is not more than maxRemovalFraction (0.5).
    const lab = await startFaultStack({ nodes: 6 });
    // The three leave in one answer: the handler's read of iri is stalled
    // while they are deregistered, and the read after it sees all three gone.
    lab.proxy.onlyService = "iri";
    const stalled = lab.proxy.served("stall");
    lab.proxy.mode = "stall";
    await eventually(() => Promise.resolve(lab.proxy.served("stall")), (count) => count > stalled, "a read of iri stalled", 30_000);
    for (const id of ["n0", "n1", "n2"]) await lab.stack.consul.deregister(id);
    lab.proxy.mode = "pass";
    await eventually(() => lab.serving(), (rows) => rows.length === 3 && rows.every((row) => row.endsWith(" UP")), "three drained and freed", 30_000);
    assert.ok(!hasLog(lab.cli.logs(), heldLog), "nothing held");
    // One answer: no reconcile saw five or four of the six.
    const seen = logLines(lab.cli.logs()).filter((line) => line["message"] === "reconciled").map((line) => line["endpoints"]);
    assert.ok(seen.includes(3) && !seen.includes(4) && !seen.includes(5), `the reconciles saw ${JSON.stringify(seen)} endpoints`);
    assert.equal(await lab.cli.stop(), 0);
  });
});
