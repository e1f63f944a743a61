// The portmap's keys read from a real Consul: one recursive read of the
// tier's folder (and nothing beside it), a folder with no keys, and a
// blocking read that returns when the folder changes.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startConsul } from "../../harness/consul.js";
import { validateConfig } from "../../../handler/config/load.js";
import { ConsulClient } from "../../../handler/source/consul-http.js";
import { ConsulKv } from "../../../handler/source/consul-kv.js";
import { judgePortmap, readPortmapKv } from "../../../handler/source/portmap-kv.js";

describe("the portmap read from Consul KV", async () => {
  const consul = await startConsul();
  const config = validateConfig({ consul: { address: consul.address }, haproxy: { socket: "/nonexistent.sock" }, services: [{ name: "web", backend: "web", slotPrefix: "s" }] }, "test");
  const client = new ConsulClient(config.consul);
  const kv = new ConsulKv(config.consul, client);
  after(async () => {
    client.close();
    await consul.cleanup();
  });
  const put = async (key: string, value: string) => {
    const answer = await fetch(`${consul.address}/v1/kv/${key}`, { method: "PUT", body: value });
    assert.equal(answer.status, 200, `PUT ${key}`);
  };

  test("a folder with no keys reads as no keys, with Consul's index", async () => {
    const read = await readPortmapKv(kv, "chh/lb/empty/");
    assert.equal(read.values.size, 0);
    assert.ok(read.index > 0, `index ${read.index}`);
  });

  test("every key of the folder and none of the folder beside it; the verdict is the parser's", async () => {
    await put("chh/lb/a/portmap", "http://8080:web{balance:roundrobin},tcp://5432:db");
    await put("chh/lb/a/max_rs", "16");
    // A sibling whose name starts with the same letters: a prefix read without the '/' would take it.
    await put("chh/lb/a-2/portmap", "tcp://9:other");
    const read = await readPortmapKv(kv, "chh/lb/a/");
    assert.deepEqual([...read.values.keys()].sort(), ["chh/lb/a/max_rs", "chh/lb/a/portmap"]);
    const verdict = judgePortmap(read.values, "chh/lb/a/", {});
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.error.message);
    assert.deepEqual(
      verdict.spec.entries.map((entry) => `${entry.type}:${entry.listenPort}:${entry.service}:${entry.slots}`),
      ["http:8080:web:16", "tcp:5432:db:16"],
    );
  });

  test("a blocking read returns when the folder changes, with a higher index", async () => {
    await put("chh/lb/b/portmap", "http://8080:web");
    const first = await readPortmapKv(kv, "chh/lb/b/");
    const started = Date.now();
    const blocked = readPortmapKv(kv, "chh/lb/b/", { index: first.index, waitMs: 20_000 });
    setTimeout(() => void put("chh/lb/b/portmap", "http://8081:web"), 300);
    const second = await blocked;
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 10_000, `returned after ${took} ms`);
    assert.ok(second.index > first.index, `${first.index} -> ${second.index}`);
    assert.equal(second.values.get("chh/lb/b/portmap"), "http://8081:web");
  });
});
