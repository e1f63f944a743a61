// A versioned service selected by a tag: its backends are keyed by the
// selection (iri?tag=live), while `promote iri <version>` is kept under the
// plain service name in Consul KV. The promotion must still reach it: the
// promoted generation serves, and status / sync --dry-run / check-config say so.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hasLog, startStack, ttlRegistration, type Stack } from "./stack.js";
import { versionNode, syncOk, versioned, versionsSeen, upSlots } from "./versions-lib.js";
import type { TestNode } from "../../harness/backends.js";

function registerTagged(stack: Stack, node: TestNode, version: string, tags: string[]): Promise<void> {
  return stack.consul.register(ttlRegistration(node.name, node.port, { Tags: tags, Meta: { haproxy_version: version } }));
}

describe("versioning with a tag selection", () => {
  test("promote reaches a service selected by a tag: the promoted generation serves, status and the dry run show it", async () => {
    const stack = await startStack({
      handler: (base) => {
        const withVersions = versioned()(base);
        const services = withVersions["services"] as Record<string, unknown>[];
        return { ...withVersions, services: services.map((service) => ({ ...service, tag: "live" })) };
      },
    });
    const a = await versionNode("ta", "1.0.1");
    const d = await versionNode("td", "1.1.0");
    // Not tagged: never selected, whatever is promoted.
    const stray = await versionNode("tstray", "1.1.0");
    await registerTagged(stack, a, "1.0.1", ["live"]);
    await registerTagged(stack, stray, "1.1.0", ["other"]);
    await syncOk(stack);
    await upSlots(stack, [a.port]);
    await registerTagged(stack, d, "1.1.0", ["live"]);
    await syncOk(stack);
    await upSlots(stack, [d.port]);
    // Sticky: 1.0.x keeps serving until the operator says otherwise.
    assert.deepEqual([...(await versionsSeen(stack, 10)).keys()], ["1.0.1"]);

    // A promotion in KV (another handler's, or written by hand) shows in the next dry run.
    const written = await fetch(`${stack.consul.address}/v1/kv/consul-haproxy-handler/iri/promoted`, { method: "PUT", body: "1.1.0" });
    assert.equal(written.status, 200);
    const pending = await stack.cli(["sync", "--dry-run"]);
    assert.equal(pending.code, 0, pending.stderr);
    assert.ok(hasLog(pending.stderr, { message: "serving generation would switch (dry run)", to: "1.1.x", reason: /promoted by the operator/ }), pending.stderr);
    // The serving slot would go to weight 0, the promoted one up.
    assert.match(pending.stdout, /^set server main_back\/srv\d+ weight 0$/m);
    assert.match(pending.stdout, /^set server main_back\/srv\d+ weight [1-9]\d*$/m);
    assert.deepEqual([...(await versionsSeen(stack, 10)).keys()], ["1.0.1"], "a dry run changes nothing");

    const promoted = await stack.cli(["promote", "iri", "1.1.0"]);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /^promoted iri 1\.1\.0; iri is served by 1\.1\.x$/m);
    assert.ok(hasLog(promoted.stderr, { message: "serving generation switched", to: "1.1.x", reason: /promoted by the operator/ }), promoted.stderr);
    assert.deepEqual([...(await versionsSeen(stack, 10)).keys()], ["1.1.0"]);
    assert.equal(stray.hits, 0, "the untagged instance is not selected");

    // A fresh process reads the promotion from KV and keeps it.
    const dryRun = await stack.cli(["sync", "--dry-run"]);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.match(dryRun.stdout, /nothing to do/);
    const status = await stack.cli(["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { versions: { service: string; serving: string | null; promoted: string | null }[] };
    assert.deepEqual(
      report.versions.map(({ service, serving, promoted: inForce }) => ({ service, serving, promoted: inForce })),
      [{ service: "iri?tag=live", serving: "1.1.x", promoted: "1.1.0" }],
    );
    const table = await stack.cli(["status"]);
    assert.match(table.stdout, /service iri\?tag=live: serving 1\.1\.x \(promoted 1\.1\.0\)/);
    const check = await stack.cli(["check-config"]);
    assert.match(check.stdout, /^ok {3}consul kv: promoted versions readable: iri\?tag=live 1\.1\.0$/m);

    // Cleared: the sticky rule keeps the generation HAProxy serves.
    const cleared = await stack.cli(["promote", "iri", "--clear"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /iri is served by 1\.1\.x/);
  });
});
