// README "Slot rules", end to end against a real Consul and HAProxy: a
// warning (ready, or drain with policy.warningAs: drain), a node in
// maintenance (`consul maint`), a node whose serfHealth is critical, and a
// deregistered node drained and then freed after policy.drainSeconds while a
// client still holds a session on it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { patchConfig } from "../faults/fault-stack.js";
import { eventually, startStack, ttlRegistration, type Stack } from "../handler/stack.js";
import { node, onCleanup, syncOk } from "./claims-lib.js";

/** `status addr` of a slot, after a sync. */
async function syncedSlot(stack: Stack, slot: string): Promise<string> {
  await syncOk(stack);
  const row = await stack.stat(slot);
  return `${row.status ?? ""} ${row["addr"] ?? ""}`;
}

describe("slot rules end to end", () => {
  test("warning: ready with warningAs: ready (traffic still flows), drain with warningAs: drain", async () => {
    const stack = await startStack();
    const a = await node("a");
    await stack.consul.register(ttlRegistration("a", a.port));
    await syncOk(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "a UP");
    const address = `127.0.0.1:${a.port}`;

    assert.equal((await stack.consul.api("PUT", "/v1/agent/check/warn/ttl-a")).status, 200);
    assert.equal(await syncedSlot(stack, "srv1"), `UP ${address}`, "warningAs: ready keeps a warning node in rotation");
    assert.equal((await stack.request()).node, "a");

    patchConfig(stack, (config) => {
      config["policy"] = { ...(config["policy"] as Record<string, unknown>), warningAs: "drain" };
    });
    assert.equal(await syncedSlot(stack, "srv1"), `DRAIN ${address}`, "warningAs: drain drains it, in its slot");

    assert.equal((await stack.consul.api("PUT", "/v1/agent/check/pass/ttl-a")).status, 200);
    assert.equal(await syncedSlot(stack, "srv1"), `UP ${address}`, "passing again: ready");
  });

  test("node maintenance (consul maint) drains every node on it; off again: ready", async () => {
    const stack = await startStack();
    const a = await node("a");
    const b = await node("b");
    await stack.consul.register(ttlRegistration("a", a.port));
    await stack.consul.register(ttlRegistration("b", b.port));
    await syncOk(stack);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "a and b UP");

    const maint = (...args: string[]) => promisify(execFile)("consul", ["maint", `-http-addr=127.0.0.1:${stack.consul.httpPort}`, ...args]);
    await maint("-enable", "-reason", "claims test");
    const checks = (await stack.consul.api("GET", "/v1/health/service/iri")).json as { Checks: { CheckID: string }[] }[];
    assert.ok(checks[0]?.Checks.some((check) => check.CheckID === "_node_maintenance"), "Consul put the node in maintenance");
    await syncOk(stack);
    const drained = (await stack.servers("main_back")).filter((row) => row.svname.startsWith("srv") && row.status !== "MAINT");
    assert.deepEqual(
      drained.map((row) => `${row.svname} ${row.status ?? ""} ${row["addr"] ?? ""}`),
      [`srv1 DRAIN 127.0.0.1:${a.port}`, `srv2 DRAIN 127.0.0.1:${b.port}`],
      "both nodes drained (not MAINT: maintenance is not a failure), in their slots",
    );

    await maint("-disable");
    await syncOk(stack);
    assert.deepEqual(
      (await stack.servers("main_back")).filter((row) => row.svname.startsWith("srv") && row.status !== "MAINT").map((row) => row.status),
      ["UP", "UP"],
    );
  });

  test("serfHealth critical: the node's slot goes to maint and the node keeps it; passing again: back in the same slot", async () => {
    const stack = await startStack();
    const a = await node("a");
    const external = await node("external");
    await stack.consul.register(ttlRegistration("a", a.port));
    // An external node (catalog registration), so the test sets its node-level
    // serfHealth check; the agent's own node must stay healthy.
    const registerExternal = async (serfStatus: string): Promise<void> => {
      const answer = await stack.consul.api("PUT", "/v1/catalog/register", {
        Node: "external-node",
        Address: "127.0.0.1",
        Service: { ID: "external", Service: "iri", Address: "127.0.0.1", Port: external.port },
        Checks: [
          { CheckID: "serfHealth", Name: "Serf Health Status", Status: serfStatus },
          { CheckID: "service:external", Name: "service", Status: "passing", ServiceID: "external" },
        ],
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
    };
    await registerExternal("passing");
    await syncOk(stack);
    await eventually(() => stack.servers("main_back"), (rows) => rows.filter((row) => row.status === "UP").length === 2, "a and external UP");
    const slotOf = async (port: number) => (await stack.servers("main_back")).find((row) => row["addr"] === `127.0.0.1:${port}`)?.svname;
    const externalSlot = await slotOf(external.port);
    assert.ok(externalSlot, "external has a slot");

    await registerExternal("critical");
    assert.equal(await syncedSlot(stack, externalSlot), `MAINT 127.0.0.1:${external.port}`, "serfHealth critical: maint, the slot keeps the node");
    for (let i = 0; i < 4; i += 1) assert.equal((await stack.request()).node, "a", "no request reaches the failed node");

    await registerExternal("passing");
    await syncOk(stack);
    await eventually(() => stack.stat(externalSlot), (row) => row.status === "UP" && row["addr"] === `127.0.0.1:${external.port}`, "external back UP in its own slot");
  });

  test("a deregistered node with a live session: DRAIN, then freed after drainSeconds although the session is still open", async () => {
    // An hour first, so that "the drain time is not over" holds however slow
    // the machine; then a few seconds, to see the slot freed once it is over.
    const drainSeconds = 3;
    const setDrainSeconds = (seconds: number): void =>
      patchConfig(stack, (config) => {
        config["policy"] = { ...(config["policy"] as Record<string, unknown>), drainSeconds: seconds };
      });
    const stack = await startStack({ handler: (base) => ({ ...base, policy: { warningAs: "ready", drainSeconds: 3600 } }) });
    // HAProxy must keep the held request open longer than the drain lasts.
    writeFileSync(stack.haproxy.configFile, readFileSync(stack.haproxy.configFile, "utf8").replace("timeout server 10s", "timeout server 60s"));
    await stack.haproxy.restart();
    // A node that answers its health check and holds every other request
    // until the test lets go: the session stays open in HAProxy.
    const held: ServerResponse[] = [];
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      if (request.url === "/health") {
        response.end("ok");
        return;
      }
      held.push(response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    onCleanup(
      () =>
        new Promise((resolve) => {
          for (const response of held) response.destroy();
          server.closeAllConnections();
          server.close(resolve);
        }),
    );
    const port = (server.address() as AddressInfo).port;
    await stack.consul.register(ttlRegistration("held", port));
    await syncOk(stack);
    await eventually(() => stack.stat("srv1"), (row) => row.status === "UP", "held UP");

    let answered = false;
    const request = fetch(`http://127.0.0.1:${stack.frontendPort}/`).then(
      () => (answered = true),
      () => (answered = true),
    );
    await eventually(() => stack.stat("srv1"), (row) => row["scur"] === "1", "one session open on srv1");

    await stack.consul.deregister("held");
    assert.equal(await syncedSlot(stack, "srv1"), `DRAIN 127.0.0.1:${port}`, "deregistered: drained first");
    // Another sync while the drain time (an hour) is not over keeps it draining.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await syncedSlot(stack, "srv1"), `DRAIN 127.0.0.1:${port}`, "a session still open and the drain time not over: still draining");
    assert.equal((await stack.stat("srv1"))["scur"], "1", "the session is still open");

    setDrainSeconds(drainSeconds);
    await eventually(() => stack.stat("srv1"), (row) => Number(row["lastchg"]) >= drainSeconds, `drained for ${drainSeconds} s`, 30_000, { intervalMs: 500 });
    const freed = await eventually(
      async () => {
        await syncOk(stack);
        return stack.stat("srv1");
      },
      (row) => row.status === "MAINT",
      "srv1 freed after drainSeconds",
      30_000,
    );
    assert.equal(freed["scur"], "1", "freed while the session was still open");
    assert.equal(answered, false, "the client's request is still waiting");
    assert.match(freed["addr"] ?? "", /^0\.0\.0\.0:/, "the freed slot forgot the node's address");
    for (const response of held) response.end("late");
    await request;
  });
});
