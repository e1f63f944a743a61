// The slot settings table, entry by entry: what each reads from HAProxy's
// reports, what its operation does to a slot, the arguments it sends, and
// the small helpers the reader and the planner share.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  adminStateFromBits,
  sameOperation,
  settingOf,
  SETTINGS,
  UNREAD_SLOT_SETTINGS,
  wholeNumber,
  type SettingOperation,
  type SlotSettingFields,
} from "../../../handler/planner/slot-settings.js";
import { STAT_COLUMNS } from "../../../handler/haproxy-state/reader.js";
import { SERVERS_STATE_COLUMNS } from "../../../handler/haproxy-state/slots.js";

// The headers HAProxy 2.6 prints (format 1 of `show servers state`; `show stat`'s first columns up to `slim`).
const SERVERS_STATE_HEADER = "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port".split(" ");
const STAT_HEADER = "pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,lastchg".split(",");

const entry = (kind: SettingOperation["kind"]) => {
  const found = settingOf(kind);
  assert.ok(found, kind);
  return found;
};
const fields = (changes: Partial<SlotSettingFields> = {}): SlotSettingFields => ({ ...UNREAD_SLOT_SETTINGS, ...changes });

describe("slot settings table", () => {
  test("every column an entry names is one HAProxy reports in the command it names; show stat is asked for those", () => {
    for (const setting of SETTINGS) {
      const header = setting.reportedIn.command === "show stat" ? STAT_HEADER : SERVERS_STATE_HEADER;
      assert.ok(setting.reportedIn.columns.length > 0, setting.kind);
      for (const column of setting.reportedIn.columns) assert.ok(header.includes(column), `${setting.kind}: ${column} in ${setting.reportedIn.command}`);
    }
    assert.deepEqual(
      SETTINGS.map((setting) => [setting.kind, setting.reportedIn.command, setting.reportedIn.columns]),
      [
        ["set-addr", "show servers state", ["srv_addr", "srv_port"]],
        ["set-weight", "show servers state", ["srv_uweight"]],
        ["set-maxconn", "show stat", ["slim"]],
        ["set-state", "show servers state", ["srv_admin_state"]],
      ],
    );
    assert.deepEqual(STAT_COLUMNS, ["status", "scur", "lastchg", "slim"]);
  });

  test("the slot reader has a row field for every show servers state column the table names, and for no other", () => {
    const named = SETTINGS.filter((setting) => setting.reportedIn.command === "show servers state").flatMap((setting) => setting.reportedIn.columns);
    assert.deepEqual(Object.keys(SERVERS_STATE_COLUMNS).sort(), [...named].sort());
  });

  test("the address is sent with every fill and prepared; the state is activated; the others are prepared when different", () => {
    assert.deepEqual(
      SETTINGS.map((setting) => [setting.kind, setting.phase, setting.send, setting.command]),
      [
        ["set-addr", "prepare", "always", "setServerAddr"],
        ["set-weight", "prepare", "when different", "setServerWeight"],
        ["set-maxconn", "prepare", "when different", "setServerMaxconn"],
        ["set-state", "activate", "when different", "setServerState"],
      ],
    );
    assert.equal(settingOf("set-health"), undefined);
    assert.equal(settingOf("add-server"), undefined);
  });

  test("a slot not read yet is in maintenance, weight 0, no maxconn, no address", () => {
    assert.deepEqual({ ...UNREAD_SLOT_SETTINGS }, { adminState: "maint", weight: 0, maxconn: 0 });
    assert.ok(Object.isFrozen(UNREAD_SLOT_SETTINGS));
  });

  test("read: each entry from its columns", () => {
    const columns = (values: Record<string, string>) => (name: string) => values[name];
    assert.deepEqual(entry("set-addr").read(columns({ srv_addr: "10.0.0.1", srv_port: "8080" })), { kind: "set-addr", address: "10.0.0.1", port: 8080 });
    for (const none of ["0.0.0.0", "::", "-", ""]) assert.equal(entry("set-addr").read(columns({ srv_addr: none, srv_port: "80" })), undefined, none);
    assert.equal(entry("set-addr").read(columns({})), undefined, "no srv_addr column: no address");
    assert.deepEqual(entry("set-weight").read(columns({ srv_uweight: "30" })), { kind: "set-weight", weight: 30 });
    assert.deepEqual(entry("set-maxconn").read(columns({ slim: "7" })), { kind: "set-maxconn", maxconn: 7 });
    assert.deepEqual(entry("set-maxconn").read(columns({ slim: "" })), { kind: "set-maxconn", maxconn: 0 }, "an empty slim is no limit");
    assert.deepEqual(entry("set-state").read(columns({ srv_admin_state: "12" })), { kind: "set-state", state: "drain" });
  });

  test("current and record: what a slot has, and what HAProxy accepting the operation leaves on it", () => {
    const slot = fields();
    assert.equal(entry("set-addr").current(slot), undefined, "no address");
    assert.equal(entry("set-addr").current(fields({ address: "10.0.0.1" })), undefined, "an address without port is none");
    entry("set-addr").record(slot, { kind: "set-addr", address: "10.0.0.1", port: 80 });
    assert.deepEqual(entry("set-addr").current(slot), { kind: "set-addr", address: "10.0.0.1", port: 80 });
    entry("set-addr").record(slot, { kind: "set-addr", address: "0.0.0.0", port: 80 });
    assert.equal("address" in slot || "port" in slot, false, "0.0.0.0 forgets the node: no address, no port");
    entry("set-weight").record(slot, { kind: "set-weight", weight: 9 });
    entry("set-maxconn").record(slot, { kind: "set-maxconn", maxconn: 4 });
    entry("set-state").record(slot, { kind: "set-state", state: "drain" });
    assert.deepEqual(slot, { adminState: "drain", weight: 9, maxconn: 4 });
    assert.deepEqual([entry("set-weight").current(slot), entry("set-maxconn").current(slot), entry("set-state").current(slot)], [
      { kind: "set-weight", weight: 9 },
      { kind: "set-maxconn", maxconn: 4 },
      { kind: "set-state", state: "drain" },
    ]);
  });

  test("arguments after backend and server", () => {
    assert.deepEqual(entry("set-addr").arguments({ kind: "set-addr", address: "fd00::1", port: 443 }), ["fd00::1", 443]);
    assert.deepEqual(entry("set-weight").arguments({ kind: "set-weight", weight: 3 }), [3]);
    assert.deepEqual(entry("set-maxconn").arguments({ kind: "set-maxconn", maxconn: 0 }), [0]);
    assert.deepEqual(entry("set-state").arguments({ kind: "set-state", state: "maint" }), ["maint"]);
  });

  test("status columns: weight always, maxconn blank at 0", () => {
    const shown = SETTINGS.flatMap((setting) => (setting.status ? [[setting.status.field, setting.status.header, setting.status.value(fields({ weight: 5, maxconn: 6 })), setting.status.blankWhen]] : []));
    assert.deepEqual(shown, [
      ["weight", "WEIGHT", 5, undefined],
      ["maxconn", "MAXCONN", 6, 0],
    ]);
  });
});

describe("slot settings helpers", () => {
  test("wholeNumber: HAProxy's number, 0 for an empty cell, a missing one or text", () => {
    assert.equal(wholeNumber("12"), 12);
    assert.equal(wholeNumber("0"), 0);
    for (const text of ["", undefined, "abc", "1e999"]) assert.equal(wholeNumber(text), 0, String(text));
  });

  test("adminStateFromBits: any maint bit is maint (forced, inherited, resolution), then any drain bit; 0x04 alone is ready", () => {
    assert.equal(adminStateFromBits(0), "ready");
    assert.equal(adminStateFromBits(0x04), "ready", "CMAINT stays set after state ready on 2.6");
    for (const bits of [0x01, 0x02, 0x20, 0x01 | 0x08]) assert.equal(adminStateFromBits(bits), "maint", String(bits));
    for (const bits of [0x08, 0x10, 0x04 | 0x08]) assert.equal(adminStateFromBits(bits), "drain", String(bits));
  });

  test("sameOperation: the same kind with the same values", () => {
    assert.equal(sameOperation(undefined, { kind: "set-weight", weight: 1 }), false);
    assert.equal(sameOperation({ kind: "set-weight", weight: 1 }, { kind: "set-weight", weight: 1 }), true);
    assert.equal(sameOperation({ kind: "set-weight", weight: 1 }, { kind: "set-weight", weight: 2 }), false);
    assert.equal(sameOperation({ kind: "set-maxconn", maxconn: 1 }, { kind: "set-weight", weight: 1 }), false);
    assert.equal(sameOperation({ kind: "set-addr", address: "a", port: 1 }, { kind: "set-addr", address: "a", port: 2 }), false);
  });
});
