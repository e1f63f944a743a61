import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseShowInfo, parseShowServersState, parseShowStat, ReplySplitter } from "../../../handler/haproxy-runtime-api/index.js";
import { slotsFromRuntime } from "../../../handler/haproxy-state/slots.js";

// Shaped like HAProxy 2.6.12 output (a subset of its columns, values edited
// for the cases; the parsers go by header names): a template slot filled and set
// ready (app1), one never used (app2), one drained with sessions (app3).
const serversState = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
2 b 1 app1 127.0.0.1 2 4 30 1 0 1 0 0 14 0 0 0 - 8081 - 0 0 - - 0
2 b 2 app2 0.0.0.0 0 5 1 1 0 1 0 0 8 0 0 0 - 8080 - 0 0 - - 0
2 b 3 app3 10.0.0.3 2 12 1 1 7 1 0 0 14 0 0 0 - 8083 - 1 0 - - 0
2 b 4 static 10.0.0.9 2 0 1 1 7 1 0 0 0 0 0 0 - 80 - 0 0 - - 0
`;
const stat = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo
b,app1,0,0,0,0,7,0,0,0,,0,,0,0,0,0,UP,30,1,0,0,0,12,0,,1,2,1,,0,,2,0,,0,L7OK,200,1,,,,,,,0,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:8081,,http,
b,app2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,40,40,,1,2,2,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,2,3,0,,,,0.0.0.0:8080,,http,
b,app3,0,0,2,2,,0,0,0,,0,,0,0,0,0,DRAIN,0,1,0,0,0,7,0,,1,2,3,,0,,2,0,,0,L7OK,200,1,,,,,,,0,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,10.0.0.3:8083,,http,
b,BACKEND,0,0,2,2,10,0,0,0,0,0,,0,0,0,0,UP,31,2,0,,0,40,0,,1,2,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin
`;

describe("parsers", () => {
  test("show stat is parsed by its header", () => {
    const rows = parseShowStat(stat);
    assert.equal(rows.length, 4);
    assert.equal(rows[0]?.svname, "app1");
    assert.equal(rows[0]?.["status"], "UP");
    assert.equal(rows[0]?.["slim"], "7");
    assert.equal(rows[0]?.["addr"], "127.0.0.1:8081");
    assert.equal(rows[3]?.svname, "BACKEND");
    assert.throws(() => parseShowStat("Unknown command"), /no header line/);
  });

  test("show servers state is parsed by its header", () => {
    const rows = parseShowServersState(serversState);
    assert.equal(rows.length, 4);
    assert.deepEqual([rows[0]?.serverName, rows[0]?.address, rows[0]?.port, rows[0]?.adminState, rows[0]?.userWeight], ["app1", "127.0.0.1", 8081, 4, 30]);
    assert.equal(rows[2]?.useSsl, true);
  });

  test("show info gives pid and uptime", () => {
    const info = parseShowInfo("Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 29811\nUptime: 0d 0h00m18s\nUptime_sec: 18\n");
    assert.deepEqual([info.pid, info.uptimeSeconds, info.version], [29811, 18, "2.6.12-1+deb12u4"]);
    assert.throws(() => parseShowInfo("nonsense"), /no Pid/);
  });

  test("slots: join both answers, keep only managed prefixes, read admin bits", () => {
    const slots = slotsFromRuntime(parseShowServersState(serversState), parseShowStat(stat), new Map([["b", ["app"]]]));
    assert.deepEqual(
      slots.map((slot) => [slot.name, slot.number, slot.adminState, slot.address ?? null, slot.port ?? null, slot.weight, slot.maxconn, slot.sessions, slot.checksEnabled, slot.secondsSinceChange]),
      [
        // admin state 4 (config "disabled" only) is running after `state ready`.
        ["app1", 1, "ready", "127.0.0.1", 8081, 30, 7, 0, true, 12],
        ["app2", 2, "maint", null, null, 1, 0, 0, false, 40],
        ["app3", 3, "drain", "10.0.0.3", 8083, 1, 0, 2, true, 7],
      ],
    );
  });
});

describe("reply splitter", () => {
  const stream = "\n> IP changed from '0.0.0.0' to '10.0.0.1'\n\n> \n> No such server.\n\n> 1\n# be_id be_name\n2 b 1 s1\n\n> ";
  const expected = ["\n", "IP changed from '0.0.0.0' to '10.0.0.1'\n\n", "\n", "No such server.\n\n", "1\n# be_id be_name\n2 b 1 s1\n\n"];

  test("one chunk", () => {
    assert.deepEqual(new ReplySplitter().push(Buffer.from(stream, "latin1")), expected);
  });

  test("every way of cutting the stream in two, and byte by byte", () => {
    const bytes = Buffer.from(stream, "latin1");
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      const splitter = new ReplySplitter();
      const replies = [...splitter.push(bytes.subarray(0, cut)), ...splitter.push(bytes.subarray(cut))];
      assert.deepEqual(replies, expected, `cut at ${cut}`);
    }
    const splitter = new ReplySplitter();
    const replies: string[] = [];
    for (const byte of bytes) replies.push(...splitter.push(Buffer.from([byte])));
    assert.deepEqual(replies, expected);
  });
});
