import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { commands, InvalidCommandArgument, parseEndpoint } from "../../../handler/haproxy-runtime-api/index.js";

describe("runtime command builders", () => {
  test("build the exact runtime API text", () => {
    assert.equal(commands.setServerAddr("be", "srv1", "10.0.0.1", 14265).text, "set server be/srv1 addr 10.0.0.1 port 14265");
    assert.equal(commands.setServerAddr("be", "srv1", "fd00::1", 80).text, "set server be/srv1 addr fd00::1 port 80");
    assert.equal(commands.setServerState("be", "srv1", "drain").text, "set server be/srv1 state drain");
    assert.equal(commands.setServerHealth("be", "srv1", "down").text, "set server be/srv1 health down");
    assert.equal(commands.setServerWeight("be", "srv1", 256).text, "set server be/srv1 weight 256");
    assert.equal(commands.setServerMaxconn("be", "srv1", 0).text, "set maxconn server be/srv1 0");
    assert.equal(commands.addServer("be", "srv9", "fd00::1", 443, ["check", "ssl", "verify", "none"]).text, "add server be/srv9 [fd00::1]:443 check ssl verify none");
    assert.equal(commands.showStat("be").text, "show stat be 4 -1");
    assert.equal(commands.showServersState().text, "show servers state");
  });

  test("know their success replies", () => {
    const addr = commands.setServerAddr("be", "s1", "10.0.0.1", 80);
    assert.equal(addr.succeeded("IP changed from '0.0.0.0' to '10.0.0.1', port changed from '80' to '81' by 'stats socket command'"), true);
    assert.equal(addr.succeeded("no need to change the addr, port changed from '81' to '82' by 'stats socket command'"), true);
    // HAProxy 3.0 and 3.2 name only what changed (seen on 3.0.11 and 3.2.26).
    assert.equal(addr.succeeded("port changed from '81' to '82' by 'stats socket command'"), true);
    assert.equal(addr.succeeded("IP changed from '127.0.0.1' to '127.0.0.2' by 'stats socket command'"), true);
    assert.equal(addr.succeeded("nothing changed"), true);
    assert.equal(addr.succeeded("Invalid addr 'bogus'"), false);
    assert.equal(addr.succeeded("No such server."), false);
    assert.equal(addr.succeeded("Invalid addr 'bogus' by 'stats socket command'"), false);
    const weight = commands.setServerWeight("be", "s1", 1);
    assert.equal(weight.succeeded(""), true);
    assert.equal(weight.succeeded("Absolute weight can only be between 0 and 256 inclusive."), false);
    assert.equal(commands.addServer("be", "s1", "10.0.0.1", 80, []).succeeded("New server registered."), true);
    assert.equal(commands.delServer("be", "s1").succeeded("Only servers in maintenance mode can be deleted."), false);
  });

  // Nothing hostile may become a command.
  const badNames = ["", "a b", "be;show info", "be\nshow info", "be/x", "../", "x".repeat(65), "be\\", "bé"];
  const badAddresses = ["10.0.0.1;", "::1 ; x", "10.0.0.1 ", "1.2.3.4:80", "example.com", "fe80::1%eth0", "", "10.0.0.1\nshow info", "01.2.3.4"];
  const badWeights = [-1, 257, 1.5, Number.NaN, Number.POSITIVE_INFINITY];
  const badPorts = [0, 65536, 80.5, -80, Number.NaN];
  test("refuse hostile names", () => {
    for (const name of badNames) {
      assert.throws(() => commands.setServerWeight(name, "s1", 1), InvalidCommandArgument, `backend ${JSON.stringify(name)}`);
      assert.throws(() => commands.setServerState("be", name, "ready"), InvalidCommandArgument, `server ${JSON.stringify(name)}`);
    }
  });
  test("refuse hostile addresses and ports", () => {
    for (const address of badAddresses) assert.throws(() => commands.setServerAddr("be", "s1", address, 80), InvalidCommandArgument, JSON.stringify(address));
    for (const port of badPorts) assert.throws(() => commands.setServerAddr("be", "s1", "10.0.0.1", port), InvalidCommandArgument, String(port));
  });
  test("refuse out-of-range numbers, unknown words and strings posing as numbers", () => {
    for (const weight of badWeights) assert.throws(() => commands.setServerWeight("be", "s1", weight), InvalidCommandArgument, String(weight));
    assert.throws(() => commands.setServerMaxconn("be", "s1", 1_000_001), InvalidCommandArgument);
    assert.throws(() => commands.setServerWeight("be", "s1", "1; show info" as unknown as number), InvalidCommandArgument);
    assert.throws(() => commands.setServerState("be", "s1", "ready;show info" as "ready"), InvalidCommandArgument);
    assert.throws(() => commands.setServerHealth("be", "s1", "sick" as "down"), InvalidCommandArgument);
    assert.throws(() => commands.addServer("be", "s1", "10.0.0.1", 80, ["check;", "x"]), InvalidCommandArgument);
    assert.throws(() => commands.addServer("be", "s1", "10.0.0.1", 80, ["inter 2s"]), InvalidCommandArgument);
  });

  test("endpoints: host:port, [v6]:port and unix paths", () => {
    assert.deepEqual(parseEndpoint("127.0.0.1:9999"), { kind: "tcp", host: "127.0.0.1", port: 9999 });
    assert.deepEqual(parseEndpoint("[::1]:9999"), { kind: "tcp", host: "::1", port: 9999 });
    assert.deepEqual(parseEndpoint("/run/haproxy/admin.sock"), { kind: "unix", path: "/run/haproxy/admin.sock" });
    assert.throws(() => parseEndpoint("127.0.0.1"), /neither host:port/);
    assert.throws(() => parseEndpoint("127.0.0.1:99999"), /neither host:port/);
  });

  test("map commands: exact text, success replies, and every argument checked", () => {
    const file = "/var/lib/haproxy-slots/portmap-maps/pm_80_path.map";
    const prepare = commands.prepareMap(file);
    assert.equal(prepare.text, `prepare map ${file}`);
    assert.equal(prepare.succeeded("New version created: 3\n"), true);
    assert.equal(prepare.succeeded("Unknown map identifier. Please use #<id> or <file>.\n"), false);
    const add = commands.addMapEntry(3, file, "example.com/api/", "pm_80_api");
    assert.equal(add.text, `add map @3 ${file} example.com/api/ pm_80_api`);
    assert.equal(add.succeeded(""), true);
    assert.equal(add.succeeded("Unknown map identifier."), false);
    const commit = commands.commitMap(3, file);
    assert.equal(commit.text, `commit map @3 ${file}`);
    assert.equal(commit.succeeded(""), true);
    assert.equal(commit.succeeded("No such version."), false);
    assert.equal(commands.addMapEntry(0, file, "/", "b").text, `add map @0 ${file} / b`);
    assert.equal(commands.addMapEntry(4_294_967_295, file, "~a._-/", "b").text, `add map @4294967295 ${file} ~a._-/ b`);
    for (const bad of ["relative.map", "maps/a.map", "/with space.map", "/a;b.map", "/a\nb.map", ""]) {
      assert.throws(() => commands.prepareMap(bad), InvalidCommandArgument, JSON.stringify(bad));
      assert.throws(() => commands.commitMap(1, bad), InvalidCommandArgument, JSON.stringify(bad));
    }
    for (const bad of ["/a b", "/a;b", "/a\n", "/a#b", "/a%20", "", "x".repeat(513)]) assert.throws(() => commands.addMapEntry(1, file, bad, "b"), InvalidCommandArgument, JSON.stringify(bad));
    assert.equal(commands.addMapEntry(1, file, "x".repeat(512), "b").text.length > 512, true);
    assert.throws(() => commands.addMapEntry(1, file, "/", "b c"), InvalidCommandArgument);
    for (const version of [-1, 1.5, 4_294_967_296]) {
      assert.throws(() => commands.addMapEntry(version, file, "/", "b"), InvalidCommandArgument, String(version));
      assert.throws(() => commands.commitMap(version, file), InvalidCommandArgument, String(version));
    }
    assert.equal(commands.prepareMap("/" + "a".repeat(4095)).text.length, "prepare map /".length + 4095);
    assert.throws(() => commands.prepareMap("/" + "a".repeat(4096)), InvalidCommandArgument);
  });
});
