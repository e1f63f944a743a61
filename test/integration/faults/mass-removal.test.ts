// The mass-removal guard under `run`, against a real Consul and HAProxy: an answer that
// would take most of a backend out of rotation is held, the nodes keep
// serving, and the hold ends when the operator says so or the same answer
// has stood for policy.massRemovalHoldSeconds.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, hasLog } from "../handler/stack.js";
import { startFaultStack } from "./fault-stack.js";

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

  test("run releases the hold by itself once the same answer has stood for massRemovalHoldSeconds", async () => {
    const lab = await startFaultStack({ policy: { massRemovalHoldSeconds: 3 } });
    // One answer in which every node is gone (deregistering one by one would be churn).
    lab.proxy.mode = "empty";
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, heldLog), "the hold logged", 30_000);
    assert.equal((await lab.serving()).length, 4, "held: all four still serve");
    await eventually(() => Promise.resolve(lab.cli.logs()), (logs) => hasLog(logs, { message: "mass removal applied", why: "hold time over" }), "released after the hold time", 30_000);
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

  test("normal churn is never held: two of four leave in one go", async () => {
    const lab = await startFaultStack();
    await lab.stack.consul.deregister("n0");
    await lab.stack.consul.deregister("n1");
    await eventually(() => lab.serving(), (rows) => rows.length === 2 && rows.every((row) => row.endsWith(" UP")), "two drained and freed", 30_000);
    assert.ok(!hasLog(lab.cli.logs(), heldLog), "nothing held");
    assert.equal(await lab.cli.stop(), 0);
  });
});
