// `run` with lb.render: the portmap in Consul KV becomes HAProxy's own
// listeners. A master-worker HAProxy (as Debian's unit runs it) loads the
// handler's rendered file as its last `-f`; the handler writes it, checks it
// with `haproxy -c` and asks the master to reload. A new listener is served
// without dropping a request on the listeners already there (wrk keep-alive
// load across the reload); a rendering HAProxy refuses changes nothing; a
// handler restarted on the same portmap does not reload.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { masterWorkerFiles, masterWorkerSections, renderingHandlerConfig, startMasterWorker } from "../../harness/haproxy-master.js";
import { freePort } from "../../harness/ports.js";
import { runCli, startCli, writeHandlerConfig, type RunningCli } from "../../harness/cli.js";
import { eventually } from "../../harness/eventually.js";
import { startNodeProcess, startWrk } from "../../harness/load.js";
import { hasLog } from "../handler/stack.js";
import { httpGet } from "../../harness/http-get.js";

const running: RunningCli[] = [];
after(async () => {
  await Promise.all(running.map((cli) => cli.stop("SIGKILL")));
});

const folder = "chh-it/lb/render/";

/** The node that answered a request on a listener, or undefined (refused, 503...). */
const answerOn = (port: number): Promise<string | undefined> => answerOnPath(port, "/");

/** The node that answered a request for `path` on a listener, or undefined. */
async function answerOnPath(port: number, path: string): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    const text = await response.text();
    return response.status === 200 ? ((JSON.parse(text) as { node?: string }).node ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** The status of the first HTTP answer on a port that does not accept connections yet (polled every 10 ms). */
async function firstStatusOn(port: number, timeoutMs: number): Promise<number | undefined> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      await response.text();
      return response.status;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return undefined;
}

describe("run renders the portmap into HAProxy and reloads it (lb.render)", async () => {
  const directory = mkdtempSync(join(tmpdir(), "cht-render-"));
  const consul = await startConsul();
  const adminPort = await freePort();
  const [webPort, apiPort] = [await freePort(), await freePort()];
  const files = masterWorkerFiles(directory);
  const { stateFile, mainFile, portmapFile, masterSocket } = files;
  // The handler's own backend, as the playbook's: the portmap comes after it.
  writeFileSync(
    mainFile,
    `${masterWorkerSections({ adminPort, stateFile, timeouts: { connect: "1s", clientAndServer: "10s" } })}
backend main_back
    server-template srv 1-2 0.0.0.0:80 check disabled init-addr none
`,
  );
  // What the playbook would install before the handler first runs: an empty portmap.
  writeFileSync(portmapFile, "");
  const haproxy = await startMasterWorker({ configFiles: [mainFile, portmapFile], masterSocket, adminAddress: `127.0.0.1:${adminPort}`, stateFile });
  after(async () => {
    await haproxy.stop();
    await consul.cleanup();
  });
  const configFile = writeHandlerConfig(
    renderingHandlerConfig({
      ...files,
      consulAddress: consul.address,
      adminPort,
      // A fixed port: the rendered http listeners send ACME challenges to it.
      listen: `127.0.0.1:${await freePort()}`,
      folder,
      lb: { certDirectory: join(directory, "no-certs") },
    }),
  );
  const put = async (value: string) => assert.equal((await fetch(`${consul.address}/v1/kv/${folder}portmap`, { method: "PUT", body: value })).status, 200);
  for (const name of ["web-1", "web-2"]) {
    const node = await startNodeProcess(name);
    await consul.register({ ID: name, Name: "web", Address: node.address, Port: node.port, Check: { CheckID: `ttl-${name}`, TTL: "1h", Status: "passing" } });
  }
  await put(`http://${webPort}:web{check:/health,inter:300ms,rise:1}`);
  const startRun = () => {
    const cli = startCli(["--config", configFile, "run"]);
    running.push(cli);
    return cli;
  };
  let cli = startRun();

  test("the first portmap: rendered, checked, HAProxy reloaded, its listener serves both instances", async () => {
    const seen = new Set<string>();
    await eventually(
      async () => {
        const node = await answerOn(webPort);
        if (node) seen.add(node);
        return seen.size;
      },
      (size) => size === 2,
      "the new listener to serve both web instances",
      20_000,
    );
    // The new worker serves before the master's reload command has answered: the handler logs it a moment later.
    await eventually(() => Promise.resolve(hasLog(cli.logs(), { message: "HAProxy reloaded with the portmap" })), (yes) => yes, "the handler to log the reload", 10_000);
    assert.match(readFileSync(portmapFile, "utf8"), new RegExp(`frontend pm_fe_${webPort}\\n`));
    assert.match(readFileSync(join(directory, "cookie-key"), "utf8"), /^[0-9a-f]{48}\n$/);
  });

  test("another listener added under keep-alive load: the reload costs no request on the listener already there", async () => {
    const pidBefore = await haproxy.workerPid();
    const wrk = startWrk(webPort);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await put(`http://${webPort}:web{check:/health,inter:300ms,rise:1} http://${apiPort}:web{balance:roundrobin,check:/health,inter:300ms,rise:1}`);
    // Its backend's slots are filled in the rendered file: the new listener's very first answer is served, not a 503.
    assert.equal(await firstStatusOn(apiPort, 20_000), 200, "the new listener's first answer");
    await eventually(() => answerOn(apiPort), (node) => node !== undefined, "the second listener to serve", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const output = await wrk.finish();
    assert.notEqual(await haproxy.workerPid(), pidBefore, "HAProxy was reloaded");
    assert.match(output, /requests in/, output);
    assert.doesNotMatch(output, /Non-2xx or 3xx responses/, output);
    assert.doesNotMatch(output, /Socket errors/, output);
  });

  test("a rendering HAProxy refuses (TLS without certificates): nothing changes, the reason is in the log and /healthz; fixed outside KV, the retry goes through", async () => {
    const webEntry = `http://${webPort}:web{check:/health,inter:300ms,rise:1}`;
    const pidBefore = await haproxy.workerPid();
    const fileBefore = readFileSync(portmapFile, "utf8");
    // The same backends (no new context): only the listener's TLS changes.
    await put(`${webEntry} https-http://${apiPort}:web{balance:roundrobin,check:/health,inter:300ms,rise:1}`);
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /is not in HAProxy: '.*haproxy -c' refused the configuration/.test(logs), "the refused rendering in the log", 20_000);
    // HAProxy's own reason is quoted (its ALERT naming the listener's missing certificate), not only the command.
    assert.match(cli.logs(), /refused the configuration with the rendered portmap \([^)]*\): [^"]*\[ALERT\][^"]*/, "HAProxy's alert in the log");
    assert.equal(readFileSync(portmapFile, "utf8"), fileBefore, "the file HAProxy loads is unchanged");
    assert.equal(await haproxy.workerPid(), pidBefore, "no reload");
    assert.ok((await answerOn(webPort)) !== undefined && (await answerOn(apiPort)) !== undefined, "both listeners still serve, in plain HTTP");
    const listen = /"address":"(127\.0\.0\.1:\d+)"/.exec(cli.logs())?.[1];
    const health = await fetch(`http://${listen}/healthz`);
    assert.equal(health.status, 503);
    assert.match(await health.text(), /is not in HAProxy/);
    // The fix is outside KV (a certificate appears): the render is tried again and goes through.
    const certs = join(directory, "no-certs");
    mkdirSync(certs, { recursive: true });
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(certs, "key"), "-out", join(certs, "cert"), "-days", "1", "-subj", "/CN=localhost"], { stdio: "ignore" });
    writeFileSync(join(certs, "localhost.pem"), readFileSync(join(certs, "cert"), "utf8") + readFileSync(join(certs, "key"), "utf8"));
    for (const file of ["key", "cert"]) rmSync(join(certs, file));
    await eventually(async () => (await fetch(`http://${listen}/healthz`)).status, (status) => status === 200, "the retried render to go through and /healthz to recover", 30_000);
    assert.match(readFileSync(portmapFile, "utf8"), new RegExp(`bind 127\\.0\\.0\\.1:${apiPort} ssl `));
    assert.notEqual(await haproxy.workerPid(), pidBefore, "reloaded once the certificate was there");
    const overTls = (): Promise<string> =>
      new Promise((resolve) => {
        const request = httpsRequest({ host: "127.0.0.1", port: apiPort, path: "/", rejectUnauthorized: false }, (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => (body += chunk.toString()));
          response.on("end", () => resolve(body));
        });
        request.on("error", (error) => resolve(error.message));
        request.end();
      });
    await eventually(overTls, (body) => /"node":\s*"web-/.test(body), "TLS to end at the listener and a web instance to answer", 10_000);
  });

  test("a handler restarted on the portmap HAProxy already has does not reload it", async () => {
    await put(`http://${webPort}:web{check:/health,inter:300ms,rise:1} http://${apiPort}:web{balance:roundrobin,check:/health,inter:300ms,rise:1}`);
    await eventually(() => Promise.resolve(readFileSync(portmapFile, "utf8")), (text) => text.includes(`bind 127.0.0.1:${apiPort}\n`), "the api listener in plain HTTP again in the rendered portmap", 20_000);
    await eventually(() => answerOn(apiPort), (node) => node !== undefined, "the api listener to serve after that reload", 20_000);
    await cli.stop("SIGTERM");
    const pidBefore = await haproxy.workerPid();
    cli = startRun();
    await eventually(() => Promise.resolve(cli.logs()), (logs) => hasLog(logs, { message: "applying the portmap" }), "the restarted handler to follow the portmap");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await haproxy.workerPid(), pidBefore, "no reload");
    assert.ok(!hasLog(cli.logs(), { message: "HAProxy reloaded with the portmap" }));
    assert.ok((await answerOn(webPort)) !== undefined && (await answerOn(apiPort)) !== undefined, "both listeners serve");
  });

  test("sync --dry-run says what run would do with the portmap in KV: nothing, or which sections a reload changes", async () => {
    const dryRun = async () => (await runCli(["--config", configFile, "sync", "--dry-run"])).stdout;
    assert.match(await dryRun(), /^# portmap: HAProxy has this rendering: nothing to render or reload$/m);
    await cli.stop("SIGTERM");
    const current = await (await fetch(`${consul.address}/v1/kv/${folder}portmap?raw`)).text();
    const extraPort = await freePort();
    await put(`${current} tcp://${extraPort}:web`);
    const preview = await dryRun();
    assert.match(preview, new RegExp(`^# portmap: run renders it, checks it \\(haproxy -c\\) and reloads HAProxy: backend pm_${extraPort}_web, frontend pm_fe_${extraPort} differ$`, "m"), `${preview}\n${readFileSync(`${portmapFile}.in`, "utf8")}`);
    assert.match(preview, new RegExp(`^#   \\+ frontend pm_fe_${extraPort}$`, "m"), "the lines the reload would add");
    // A load balancer that joins a tier whose portmap HAProxy has not loaded yet: check-config passes, saying run renders it.
    const checked = await runCli(["--config", configFile, "check-config"]);
    assert.match(checked.stdout, new RegExp(`^warn backend pm_${extraPort}_web: a portmap backend HAProxy has not loaded yet`, "m"), checked.stdout);
    assert.equal(checked.code, 0, checked.stdout);
    await put(current);
    assert.match(await dryRun(), /HAProxy has this rendering/);
    cli = startRun();
  });

  test("a change of routes only is swapped into the running HAProxy's maps: no reload, the new route serves at once", async () => {
    const api = await startNodeProcess("api-1");
    await consul.register({ ID: "api-1", Name: "api", Address: api.address, Port: api.port, Check: { CheckID: "ttl-api-1", TTL: "1h", Status: "passing" } });
    const web = `http://${webPort}:web{check:/health,inter:300ms,rise:1}`;
    const apiEntry = (path: string) => `http://${webPort}:api{path:${path},check:/health,inter:300ms,rise:1}`;
    // A new backend on the listener: a reload.
    const reloadsLogged = (): number => (cli.logs().match(/HAProxy reloaded with the portmap/g) ?? []).length;
    const reloadsAtFirst = reloadsLogged();
    await put(`${web} ${apiEntry("/api/")}`);
    await eventually(() => answerOnPath(webPort, "/api/x"), (node) => node === "api-1", "the /api/ route to reach api-1", 20_000);
    // The new worker serves before the master's reload command answers: that reload is counted once logged.
    await eventually(() => Promise.resolve(reloadsLogged()), (count) => count > reloadsAtFirst, "the handler to log the new backend's reload", 10_000);
    const pidBefore = await haproxy.workerPid();
    const reloadsBefore = reloadsLogged();
    await put(`${web} ${apiEntry("/v2/")}`);
    await eventually(() => answerOnPath(webPort, "/v2/x"), (node) => node === "api-1", "the /v2/ route to reach api-1", 10_000);
    assert.match((await answerOnPath(webPort, "/api/x")) ?? "", /^web-/, "/api/ is the default route's again");
    assert.equal(await haproxy.workerPid(), pidBefore, "the same worker: no reload");
    assert.equal(reloadsLogged(), reloadsBefore);
    assert.ok(hasLog(cli.logs(), { message: "the portmap's routes swapped in without a reload" }));
    assert.match(readFileSync(join(directory, "maps", `pm_${webPort}_path.map`), "utf8"), /^\/v2\/ pm_\d+_api$/m, "the map on disk for the next reload");
    const listen = /"address":"(127\.0\.0\.1:\d+)"/.exec(cli.logs())?.[1];
    const metrics = await (await fetch(`http://${listen}/metrics`)).text();
    assert.match(metrics, /^consul_haproxy_handler_portmap_changes_total\{how="routes"\} 1$/m);
    assert.match(metrics, /^consul_haproxy_handler_portmap_changes_total\{how="reload"\} 1$/m, "this handler's one reload: the new backend");
  });

  test("with certificate_name, the http listener answers the tier's ACME challenges from Consul KV, whichever load balancer ordered", async () => {
    const certificateKey = `${consul.address}/v1/kv/${folder}certificate_name`;
    // A CA that refuses at once: the order fails (the placeholder stays), and nothing is asked of the Internet.
    const directoryKey = `${consul.address}/v1/kv/${folder}acme_directory`;
    assert.equal((await fetch(directoryKey, { method: "PUT", body: "https://127.0.0.1:1/directory" })).status, 200);
    assert.equal((await fetch(certificateKey, { method: "PUT", body: "a.test,b.test" })).status, 200);
    const path = "/.well-known/acme-challenge/Tok-en_1";
    // Written where any load balancer of the tier (the folder's last segment: "render") reads it.
    assert.equal((await fetch(`${consul.address}/v1/kv/consul-haproxy-handler/acme/render/challenges/Tok-en_1`, { method: "PUT", body: "Tok-en_1.thumb-print" })).status, 200);
    // Each on a new connection: one kept alive from before the reload is served by the old worker once more.
    const challenge = async (tokenPath: string): Promise<string> => {
      const answer = await httpGet(webPort, tokenPath, { host: "a.test" });
      return `${answer.status} ${answer.body}`;
    };
    await eventually(() => challenge(path), (answer) => answer === "200 Tok-en_1.thumb-print", "the challenge answered through HAProxy", 20_000);
    assert.match(await challenge("/.well-known/acme-challenge/other"), /^404 no pending ACME challenge/, "a token not in KV: the handler's 404");
    assert.match((await answerOnPath(webPort, "/")) ?? "", /^web-/, "the rest still reaches the nodes");
    // Without certificate names the route goes (a reload): the path is the nodes' again.
    assert.equal((await fetch(certificateKey, { method: "DELETE" })).status, 200);
    assert.equal((await fetch(directoryKey, { method: "DELETE" })).status, 200);
    await eventually(() => answerOnPath(webPort, path), (node) => node !== undefined && /^web-/.test(node), "the challenge path back to the nodes", 20_000);
  });

  test("an emptied folder keeps HAProxy's listeners, and so does a handler started on it", async () => {
    const pidBefore = await haproxy.workerPid();
    await fetch(`${consul.address}/v1/kv/${folder}?recurse=true`, { method: "DELETE" });
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /lost every entry at once/.test(logs), "the emptied portmap held", 20_000);
    await cli.stop("SIGTERM");
    cli = startRun();
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /lost every entry at once/.test(logs), "the restarted handler to hold it too", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await haproxy.workerPid(), pidBefore, "no reload: the listeners stay");
    assert.ok((await answerOn(webPort)) !== undefined, "the web listener still serves");
    assert.match(readFileSync(portmapFile, "utf8"), new RegExp(`frontend pm_fe_${webPort}\\n`));
  });

  test("status and sync --dry-run show the held portmap; sync --allow-mass-removal releases it and run lets go", async () => {
    const status = await runCli(["--config", configFile, "status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^portmap ${folder} \\(KV index \\d+\\): 0 entries$`, "m"));
    assert.match(status.stdout, /^WARNING: the portmap under .* serves 1 listener\(s\) rendered from it/m, "status names the hold");
    const json = JSON.parse((await runCli(["--config", configFile, "status", "--json"])).stdout) as { portmap?: { heldListeners: number; entries: string[] } };
    assert.deepEqual(json.portmap && { held: json.portmap.heldListeners, entries: json.portmap.entries }, { held: 1, entries: [] });
    const dryRun = await runCli(["--config", configFile, "sync", "--dry-run"]);
    assert.match(dryRun.stdout, /^# held: the portmap under .* has no entry while HAProxy serves 1 listener/m);
    const pidBefore = await haproxy.workerPid();
    const plainSync = await runCli(["--config", configFile, "sync"]);
    assert.equal(plainSync.code, 0, plainSync.stderr);
    assert.ok((await answerOn(webPort)) !== undefined, "a plain sync keeps the held listener");
    assert.equal(await haproxy.workerPid(), pidBefore);

    const released = await runCli(["--config", configFile, "sync", "--allow-mass-removal"]);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout + released.stderr, /released the emptied portmap: HAProxy reloaded without its listeners/);
    await eventually(() => answerOn(webPort), (node) => node === undefined, "the web listener to be gone", 10_000);
    assert.notEqual(await haproxy.workerPid(), pidBefore, "HAProxy reloaded without it");
    assert.doesNotMatch(readFileSync(portmapFile, "utf8"), /^frontend /m, "the file HAProxy loads has no listener left");
    await eventually(() => Promise.resolve(cli.logs()), (logs) => /the emptied portmap was released/.test(logs), "run to let the held portmap go", 15_000);

    // Entries again: run renders them as any change.
    await put(`http://${webPort}:web{check:/health,inter:300ms,rise:1}`);
    await eventually(() => answerOn(webPort), (node) => node !== undefined, "the web listener back", 20_000);
  });
});
