// The portmap's KV answer as untrusted input, and the verdict on its keys.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { judgePortmap, kvEntries, reservedPortsOf } from "../../../handler/source/portmap-kv.js";
import { ConsulUntrusted } from "../../../handler/source/consul-untrusted.js";
import { isKvFolder } from "../../../handler/config/schema/lb.js";
import type { HandlerConfig } from "../../../handler/config/config.js";

const folder = "chh/lb/default/";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

describe("portmap KV", () => {
  test("Consul's entries become key -> text; a key with no value is null", () => {
    const values = kvEntries(
      [
        { Key: folder, Value: null },
        { Key: `${folder}portmap`, Value: b64("http://80:web tcp://5432:db") },
        { Key: `${folder}max_rs`, Value: b64("16") },
      ],
      folder,
    );
    assert.deepEqual([...values], [
      [folder, null],
      [`${folder}portmap`, "http://80:web tcp://5432:db"],
      [`${folder}max_rs`, "16"],
    ]);
  });

  test("an answer of another shape is untrusted as a whole", () => {
    const bad: [unknown, RegExp][] = [
      [{}, /not a list/],
      [[null], /not an object/],
      [["portmap"], /not an object/],
      [[{ Key: 5, Value: null }], /key outside it/],
      [[{ Key: "chh/lb/default-2/portmap", Value: b64("http://80:web") }], /key outside it: "chh\/lb\/default-2\/portmap"/],
      [[{ Key: "other/portmap", Value: null }], /key outside it/],
      [[{ Key: `${folder}portmap`, Value: 42 }], /not base64/],
      [[{ Key: `${folder}portmap`, Value: "not base64!" }], /not base64/],
      [[{ Key: `${folder}portmap`, Value: Buffer.from([0xff, 0xfe, 0x41]).toString("base64") }], /not UTF-8 text/],
    ];
    for (const [body, message] of bad) {
      assert.throws(
        () => kvEntries(body, folder),
        (error: unknown) => error instanceof ConsulUntrusted && error.reason === "bad-answer" && message.test(error.message),
        JSON.stringify(body),
      );
    }
  });

  test("the verdict: a spec, or the parser's first problem with its key; a reserved port is refused", () => {
    const values = new Map([[`${folder}portmap`, "http://80:web{balance:roundrobin} tcp://5432:db"]]);
    const good = judgePortmap(values, folder, {});
    assert.ok(good.ok);
    assert.deepEqual(
      good.spec.entries.map((entry) => [entry.type, entry.listenPort, entry.service]),
      [
        ["http", 80, "web"],
        ["tcp", 5432, "db"],
      ],
    );
    const taken = judgePortmap(values, folder, { admin: 5432 });
    assert.ok(!taken.ok);
    assert.equal(taken.error.key, "portmap");
    assert.match(taken.error.message, /5432/);
    const typo = judgePortmap(new Map([[`${folder}max-rs`, "8"]]), folder, {});
    assert.ok(!typo.ok);
    assert.match(typo.error.message, /max-rs/);
  });

  test("lb.kvPrefix is a KV folder: segments, a trailing '/', no '..'", () => {
    for (const good of ["consul-haproxy-handler/lb/default/", "lb/", "a.b/c_d/e-f/"]) assert.ok(isKvFolder(good), good);
    for (const bad of ["", "lb", "/lb/", "lb//x/", "lb/../x/", "lb/./", "lb/x y/", "lb/%2e%2e/", "lb/\n/"]) assert.ok(!isKvFolder(bad), JSON.stringify(bad));
  });

  test("the ports the handler's config takes: a TCP admin socket and run.listen, not a unix socket or port 0", () => {
    const of = (socket: string, listen?: string) => reservedPortsOf({ haproxy: { socket }, run: { listen } } as unknown as HandlerConfig);
    assert.deepEqual(of("127.0.0.1:9999", "127.0.0.1:9701"), { admin: 9999, handler: 9701 });
    assert.deepEqual(of("/run/haproxy/admin.sock"), {});
    assert.deepEqual(of("/run/haproxy/admin.sock", "[::1]:0"), {});
  });
});
