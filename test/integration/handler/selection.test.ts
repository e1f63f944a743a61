// Selecting instances per service: a tag (Consul's ?tag=) and a filter
// expression (?filter=), here on one Consul service split over two backends.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../../harness/backends.js";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";
import { startStack, ttlRegistration } from "./stack.js";

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("tag and filter select the instances of a service", async () => {
  const service = (extra: Record<string, unknown>) => ({ name: "iri", slotPrefix: "srv", defaults: { weight: 1, maxconn: 0 }, ...extra });
  const stack = await startStack({
    handler: (base) => ({
      ...base,
      services: [service({ backend: "main_back", tag: "blue" }), service({ backend: "pow_back", filter: 'Service.Meta.env == "prod" and "blue" not in Service.Tags' })],
    }),
  });
  const addresses = async (backend: string): Promise<string[]> =>
    (await stack.servers(backend))
      .filter((row) => row.svname.startsWith("srv") && !/MAINT/.test(row.status ?? ""))
      .map((row) => row["addr"] ?? "")
      .sort();

  test("each backend gets only the instances its tag or filter selects", async () => {
    const [blueDev, greenProd, blueProd] = await Promise.all([startNode("blue-dev"), startNode("green-prod"), startNode("blue-prod")]);
    nodes.push(blueDev, greenProd, blueProd);
    await stack.consul.register(ttlRegistration("blue-dev", blueDev.port, { Tags: ["blue"], Meta: { env: "dev" } }));
    await stack.consul.register(ttlRegistration("green-prod", greenProd.port, { Tags: ["green"], Meta: { env: "prod" } }));
    await stack.consul.register(ttlRegistration("blue-prod", blueProd.port, { Tags: ["blue"], Meta: { env: "prod" } }));
    const sync = await stack.sync();
    assert.equal(sync.code, 0, sync.stderr);
    assert.deepEqual(await addresses("main_back"), [`127.0.0.1:${blueDev.port}`, `127.0.0.1:${blueProd.port}`].sort(), "tag blue");
    assert.deepEqual(await addresses("pow_back"), [`127.0.0.1:${greenProd.port}`], "env prod and not blue");

    // A selection changes with the registration: green-prod turns blue.
    await stack.consul.register(ttlRegistration("green-prod", greenProd.port, { Tags: ["blue"], Meta: { env: "prod" } }));
    const dryRun = await stack.cli(["sync", "--dry-run"]);
    assert.match(dryRun.stdout, /^set server main_back\/srv\d+ addr 127\.0\.0\.1 port \d+$/m);
    assert.match(dryRun.stdout, /^set server pow_back\/srv\d+ state (drain|maint)$/m);
  });

  test("a filter Consul rejects fails static: check-config names it, sync leaves HAProxy alone", async () => {
    const before = await addresses("main_back");
    const configFile = writeHandlerConfig({
      consul: { address: stack.consul.address },
      haproxy: { socket: stack.haproxy.adminAddress },
      services: [service({ backend: "main_back", filter: 'Service.NoSuchField == "x"' })],
    });
    const check = await runCli(["--config", configFile, "check-config"]);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /^FAIL consul: Consul answered HTTP (400|500) for iri: .*NoSuchField.*check this service's filter/m);
    const sync = await runCli(["--config", configFile, "sync"]);
    assert.equal(sync.code, 1);
    assert.deepEqual(await addresses("main_back"), before);
  });

  test("tag and filter are validated in the config (exit 2 with the key)", async () => {
    const configFile = writeHandlerConfig({
      haproxy: { socket: "/nonexistent" },
      services: [service({ backend: "main_back", tag: "a\nb" }), service({ backend: "pow_back", filter: 'Service.Meta.env == "prod' })],
    });
    const result = await runCli(["--config", configFile, "check-config"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /services\[0\]\.tag: "a\\nb" is not valid; expected a Consul tag/);
    assert.match(result.stderr, /services\[1\]\.filter: .*an unclosed "/);
  });
});
