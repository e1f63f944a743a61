// Every builder's exact text and its reply check, including the read
// commands and the words the planner sends least often: written for
// mutants that survived (docs/mutation-testing.md).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { commands } from "../../../handler/haproxy-runtime-api/index.js";

describe("runtime commands: every text and reply", () => {
  test("every admin state and health word", () => {
    for (const state of ["ready", "drain", "maint"] as const) assert.equal(commands.setServerState("be", "s1", state).text, `set server be/s1 state ${state}`);
    for (const health of ["up", "stopping", "down"] as const) assert.equal(commands.setServerHealth("be", "s1", health).text, `set server be/s1 health ${health}`);
  });

  test("silent commands: an empty reply, blank lines included, is success; any text is not", () => {
    const enable = commands.enableServer("be", "s1");
    assert.equal(enable.text, "enable server be/s1");
    assert.equal(enable.succeeded("\n"), true);
    assert.equal(enable.succeeded("No such server.\n"), false);
    assert.equal(commands.enableHealth("be", "s1").text, "enable health be/s1");
  });

  test("add and del server, with HAProxy's replies (leading blank lines allowed)", () => {
    const add = commands.addServer("be", "s9", "10.0.0.1", 80, []);
    assert.equal(add.text, "add server be/s9 10.0.0.1:80");
    assert.equal(add.succeeded("\nNew server registered.\n"), true);
    assert.equal(add.succeeded("Already exists a server with the same name in backend.\n"), false);
    const del = commands.delServer("be", "s9");
    assert.equal(del.text, "del server be/s9");
    assert.equal(del.succeeded("Server deleted.\n"), true);
    assert.equal(del.succeeded("No such server.\n"), false);
  });

  test("the read commands and how each recognises its answer", () => {
    const statAll = commands.showStat();
    assert.equal(statAll.text, "show stat");
    assert.equal(statAll.succeeded("# pxname,svname,qcur\nbe,s1,0\n"), true);
    assert.equal(statAll.succeeded("Unknown command.\n"), false);

    const states = commands.showServersState("be");
    assert.equal(states.text, "show servers state be");
    assert.equal(commands.showServersState().text, "show servers state");
    assert.equal(states.succeeded("1\n# be_id be_name\n"), true);
    assert.equal(states.succeeded("\n12\n# be_id be_name\n"), true, "a version of two digits, after a blank line");
    assert.equal(states.succeeded("x1\n# be_id\n"), false, "the version line is only digits");
    assert.equal(states.succeeded("Can't find backend.\n"), false);

    const info = commands.showInfo();
    assert.equal(info.text, "show info");
    assert.equal(info.succeeded("Name: HAProxy\nVersion: 2.6.12\n"), true);
    assert.equal(info.succeeded("Permission denied\n"), false);

    const level = commands.showCliLevel();
    assert.equal(level.text, "show cli level");
    for (const answer of ["admin\n", "operator\n", "user\n"]) assert.equal(level.succeeded(answer), true, answer);
    assert.equal(level.succeeded("Unknown command.\n"), false);
  });
});
