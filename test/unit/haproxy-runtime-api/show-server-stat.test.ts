// The one-row read of a slot that `run`'s cache uses for draining slots.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { commands, InvalidCommandArgument } from "../../../handler/haproxy-runtime-api/index.js";

describe("show stat of one server", () => {
  test("the text names the backend, servers only (4) and the server's id", () => {
    assert.equal(commands.showServerStat("iri_back", 12).text, "show stat iri_back 4 12");
    assert.equal(commands.showServerStat("be", 1).text, "show stat be 4 1");
    assert.equal(commands.showServerStat("be", 2_147_483_647).text, "show stat be 4 2147483647");
  });

  test("a reply is a success only when it starts with the CSV header", () => {
    const command = commands.showServerStat("be", 3);
    assert.equal(command.succeeded("# pxname,svname,qcur\nbe,s3,0\n"), true);
    assert.equal(command.succeeded("No such proxy.\n"), false);
    assert.equal(command.succeeded(""), false);
  });

  test("a bad backend name or id is refused before anything is sent", () => {
    assert.throws(() => commands.showServerStat("be;shutdown", 1), InvalidCommandArgument);
    assert.throws(() => commands.showServerStat("be", 0), InvalidCommandArgument);
    assert.throws(() => commands.showServerStat("be", -1), InvalidCommandArgument);
    assert.throws(() => commands.showServerStat("be", 1.5), InvalidCommandArgument);
    assert.throws(() => commands.showServerStat("be", 2_147_483_648), InvalidCommandArgument);
  });
});
