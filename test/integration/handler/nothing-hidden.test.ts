// Nothing hidden: every node left out or rejected is shown with its reason,
// per backend, by status (text and --json), sync --dry-run and check-config;
// freed slots read as free; near-miss settings are warned about; usage
// errors exit 2.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import { runCli } from "../../harness/cli.js";
import { commands } from "../../../handler/haproxy-runtime-api/index.js";
import { eventually, startStack, ttlRegistration } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

interface StatusJson {
  backends: { backend: string; used: number; free: number; slots: { slot: string; state: string; address: string | null; weight: number | null; maxconn: number | null; serviceId: string | null }[]; leftOut: { serviceId: string; reason: string }[] }[];
}

describe("nothing hidden", async () => {
  const stack = await startStack({ slots: 2 });

  test("rejected nodes are listed with the reason by sync --dry-run, status and check-config", async () => {
    const good = await startNode("good");
    nodes.push(good);
    await stack.consul.register(ttlRegistration("bad-maxconn", 40001, { Meta: { haproxy_maxconn: "lots" } }));
    await stack.consul.register(ttlRegistration("bad-address", 40002, { Address: "localhost" }));
    await stack.consul.register(ttlRegistration("good", good.port));
    const maxconnReason = /bad-maxconn: maxconn "lots": expected a whole number from 0 to 1000000/;
    const addressReason = /bad-address: address "localhost": expected an IPv4 or IPv6 literal/;

    const dryRun = await stack.cli(["sync", "--dry-run"]);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, new RegExp(`^# left out of main_back: ${maxconnReason.source}`, "m"));
    assert.match(dryRun.stdout, new RegExp(`^# left out of main_back: ${addressReason.source}`, "m"));
    assert.match(dryRun.stdout, /^set server main_back\/srv1 addr 127\.0\.0\.1/m);
    assert.equal((await stack.sync()).code, 0);
    const settled = await stack.cli(["sync", "--dry-run"]);
    assert.match(settled.stdout, /^# nothing to do: HAProxy matches Consul \(except the 2 node\(s\) left out above\)$/m);

    const text = await stack.cli(["status"]);
    assert.equal(text.code, 0, text.stderr);
    const mainBlock = text.stdout.split("\n\n").find((block) => block.startsWith("backend main_back")) ?? "";
    assert.match(mainBlock, new RegExp(`^ {2}left out: ${maxconnReason.source}`, "m"));
    assert.match(mainBlock, new RegExp(`^ {2}left out: ${addressReason.source}`, "m"));
    const json = JSON.parse((await stack.cli(["status", "--json"])).stdout) as StatusJson;
    const main = json.backends.find((backend) => backend.backend === "main_back");
    assert.deepEqual(main?.leftOut.map((node) => node.serviceId).sort(), ["bad-address", "bad-maxconn"]);

    const check = await stack.cli(["check-config"]);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, new RegExp(`^warn node bad-maxconn left out of main_back: maxconn "lots"`, "m"));
    assert.match(check.stdout, new RegExp(`^warn node bad-address left out of main_back: address "localhost"`, "m"));

    await stack.consul.deregister("bad-maxconn");
    await stack.consul.deregister("bad-address");
  });

  test("nodes left out by the plan (no free slot) are listed too", async () => {
    const extra = await Promise.all([startNode("x1"), startNode("x2")]);
    nodes.push(...extra);
    for (const node of extra) await stack.consul.register(ttlRegistration(node.name, node.port));
    const dryRun = await stack.cli(["sync", "--dry-run"]);
    assert.match(dryRun.stdout, /^# left out of main_back: x\d: no free slot in main_back\/srv \(2 slots, all held\)/m);
    const json = JSON.parse((await stack.cli(["status", "--json"])).stdout) as StatusJson;
    // Before any sync the plan already knows one of the two cannot be placed.
    assert.equal(json.backends.find((backend) => backend.backend === "main_back")?.leftOut.length, 1);
    for (const node of extra) await stack.consul.deregister(node.name);
  });

  test("a freed slot reads as free: no old address, weight or maxconn, and a new node at that address:port is not credited with it", async () => {
    const node = await startNode("leaving");
    nodes.push(node);
    await stack.consul.register(ttlRegistration("leaving", node.port, { Meta: { haproxy_weight: "77", haproxy_maxconn: "9" } }));
    assert.equal((await stack.sync()).code, 0);
    const held = (JSON.parse((await stack.cli(["status", "--json", "--all"])).stdout) as StatusJson).backends.find((backend) => backend.backend === "main_back");
    const slot = held?.slots.find((row) => row.serviceId === "leaving");
    assert.ok(slot, JSON.stringify(held));
    assert.equal(slot.weight, 77);

    await stack.consul.deregister("leaving");
    // Drained, then freed: sync until the slot is in maint (each sync is a process start: allow for a loaded machine).
    let lastSync = "";
    await eventually(
      async () => {
        const synced = await stack.sync();
        lastSync = synced.stderr;
        return stack.stat(slot.slot);
      },
      (row) => /MAINT/.test(row.status ?? ""),
      "the slot freed",
      60_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nlast sync: ${lastSync}`);
    });
    assert.match((await stack.stat(slot.slot))["addr"] ?? "", /^0\.0\.0\.0:/, "the freed slot forgot the address");
    // A slot in maint that still names an address (as one freed by an older
    // version, or held by a node that went critical and then left), and a new
    // passing node registered at that very address:port, not yet synced.
    await stack.admin.session((session) => session.execute([commands.setServerAddr("main_back", slot.slot, "127.0.0.1", node.port)]));
    await stack.consul.register(ttlRegistration("newcomer", node.port));
    const report = (JSON.parse((await stack.cli(["status", "--json", "--all"])).stdout) as StatusJson).backends.find((backend) => backend.backend === "main_back");
    const freed = report?.slots.find((row) => row.slot === slot.slot);
    assert.deepEqual(freed && { address: freed.address, weight: freed.weight, maxconn: freed.maxconn, serviceId: freed.serviceId }, { address: null, weight: null, maxconn: null, serviceId: null });
    assert.ok(!report?.slots.some((row) => row.serviceId === "newcomer"), "the newcomer is not credited a slot before it got one");
    assert.equal(report?.used, report?.slots.filter((row) => row.address !== null).length, "the freed slot is not counted as used");
    assert.equal((await stack.sync()).code, 0);
    const placed = (JSON.parse((await stack.cli(["status", "--json"])).stdout) as StatusJson).backends.find((backend) => backend.backend === "main_back");
    assert.equal(placed?.slots.find((row) => row.serviceId === "newcomer")?.weight, 1, "placed with its own (default) weight, not the old 77");
    await stack.consul.deregister("newcomer");
  });

  test("near-miss Meta keys and tag forms are warned about with a suggestion", async () => {
    const node = await startNode("typo");
    nodes.push(node);
    await stack.consul.register(ttlRegistration("typo", node.port, { Meta: { haproxy_maxcon: "5" }, Tags: ["haproxy_maxconn=9"] }));
    // A dry run reads and validates the same way, whatever slots are free.
    const result = await stack.cli(["sync", "--dry-run"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Meta \\"haproxy_maxcon\\": unknown haproxy setting, ignored; did you mean \\"haproxy_maxconn\\"\?/);
    assert.match(result.stderr, /tag \\"haproxy_maxconn=9\\": not read \(the tag form is haproxy\.<key>=<value>\); did you mean \\"haproxy\.maxconn=9\\"\?/);
    await stack.consul.deregister("typo");
  });
});

describe("usage errors exit 2", () => {
  const cases: [string, string[], RegExp][] = [
    ["no command", [], /Usage: consul-haproxy-handler/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["an unknown option", ["status", "--bogus"], /unknown option '--bogus'/],
    ["an unknown global option", ["--bogus", "status"], /unknown option '--bogus'/],
    ["a log level that does not exist", ["--log-level", "verbose", "status"], /argument 'verbose' is invalid\. Allowed choices are error, warn, info, debug/],
  ];
  for (const [what, args, message] of cases) {
    test(what, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }
  test("--help and --version exit 0", async () => {
    assert.equal((await runCli(["--help"])).code, 0);
    assert.equal((await runCli(["--version"])).code, 0);
  });
});
