// The rendered portmap's files, its cookie secret, and the lb config's rules.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { matchesDisk, templateFileOf, writeMaps, writeWhole } from "../../../handler/lb/files.js";
import { cookieKey } from "../../../handler/lb/apply.js";
import { masterCommand, reloadHaproxy } from "../../../handler/lb/master-reload.js";
import { validateConfig } from "../../../handler/config/load.js";

const base = { haproxy: { socket: "/run/haproxy/admin.sock" }, services: [{ name: "web", backend: "web", slotPrefix: "s" }] };

describe("the rendered portmap on disk", () => {
  test("matchesDisk: the same configuration and every map the same; anything else differs", () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-lb-"));
    const paths = { configFile: join(directory, "portmap.cfg.in"), mapDirectory: join(directory, "maps") };
    const rendered = { config: "frontend x\n", maps: new Map([["pm_80_path.map", "/ pm_80_web\n"]]) };
    assert.equal(matchesDisk(rendered, paths), false, "nothing on disk yet");
    writeWhole(paths.configFile, rendered.config);
    assert.equal(matchesDisk(rendered, paths), false, "the map is missing");
    writeMaps(rendered, paths);
    assert.equal(matchesDisk(rendered, paths), true);
    assert.equal(matchesDisk({ ...rendered, maps: new Map([["pm_80_path.map", "/api/ pm_80_api\n"]]) }, paths), false, "a map differs");
    assert.equal(matchesDisk({ ...rendered, config: "frontend y\n" }, paths), false, "the configuration differs");
    assert.deepEqual(readdirSync(directory).sort(), ["maps", "portmap.cfg.in"], "no temporary file left");
    assert.equal(templateFileOf("/etc/haproxy/portmap.cfg"), "/etc/haproxy/portmap.cfg.in");
  });

  test("writeWhole: a leftover temporary (a crash) does not lend the file its mode; the temporary is hidden and gone after the write", () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-lb-"));
    const file = join(directory, "a.test.pem");
    // Hidden: HAProxy skips a crt directory's hidden files, so a leftover is never loaded as a certificate.
    const leftover = join(directory, `.a.test.pem.tmp.${process.pid}`);
    writeFileSync(leftover, "half a bundle\n", { mode: 0o644 });
    writeWhole(file, "secret\n", 0o600);
    assert.equal(readFileSync(file, "utf8"), "secret\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(directory), ["a.test.pem"]);
    // The rename fails (a directory is in the way): the temporary goes with the error.
    mkdirSync(join(directory, "b.test.pem", "in-the-way"), { recursive: true });
    assert.throws(() => writeWhole(join(directory, "b.test.pem"), "x"), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(directory).sort(), ["a.test.pem", "b.test.pem"], "no temporary left by a failed write");
  });

  test("the cookie secret is created once, 0600, and kept; a file that is not a key is refused", () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-lb-"));
    const file = join(directory, "sub", "cookie-key");
    const key = cookieKey(file);
    assert.match(key, /^[0-9a-f]{48}$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(cookieKey(file), key, "kept");
    writeFileSync(file, "a key with spaces\n");
    assert.throws(() => cookieKey(file), /does not hold a usable cookie key/);
  });

  test("lb.render needs lb.enabled; paths must be absolute; bindAddress is an address or empty", () => {
    assert.throws(() => validateConfig({ ...base, lb: { render: true } }, "test"), /lb\.render: true needs lb\.enabled: true/);
    assert.equal(validateConfig({ ...base, lb: { enabled: true, render: true } }, "test").lb.configFile, "/etc/haproxy/portmap.cfg");
    assert.throws(() => validateConfig({ ...base, lb: { configFile: "portmap.cfg" } }, "test"), /lb\.configFile/);
    assert.throws(() => validateConfig({ ...base, lb: { checkWith: [] } }, "test"), /lb\.checkWith/);
    assert.throws(() => validateConfig({ ...base, lb: { bindAddress: "localhost" } }, "test"), /lb\.bindAddress/);
    assert.equal(validateConfig({ ...base, lb: { bindAddress: "" } }, "test").lb.bindAddress, "");
    assert.equal(validateConfig({ ...base, lb: { bindAddress: "::1" } }, "test").lb.bindAddress, "::1");
  });

  test("lb.certificateCheckSeconds: a minute by default; a whole number of seconds from 1 to a day", () => {
    assert.equal(validateConfig(base, "test").lb.certificateCheckSeconds, 60);
    assert.equal(validateConfig({ ...base, lb: { certificateCheckSeconds: 1 } }, "test").lb.certificateCheckSeconds, 1);
    for (const bad of [0, -5, 1.5, 86_401, "60"]) assert.throws(() => validateConfig({ ...base, lb: { certificateCheckSeconds: bad } }, "test"), /lb\.certificateCheckSeconds/, String(bad));
  });

  test("a master CLI that is not there, and a worker that never changes, are errors that say what to check", async () => {
    await assert.rejects(masterCommand("/nonexistent/master.sock", "reload", 500), /master CLI \/nonexistent\/master\.sock did not take 'reload'.*lb\.masterSocket/);
    const worker = { showInfo: async () => ({ pid: 7 }), serverStateText: async () => "not a state" };
    const directory = mkdtempSync(join(tmpdir(), "cht-lb-"));
    await assert.rejects(reloadHaproxy({ masterSocket: "/nonexistent", serverStateFile: join(directory, "state"), timeoutMs: 500 }, worker), /show servers state' answered "not a state"; not reloading/);
    assert.throws(() => readFileSync(join(directory, "state")), /ENOENT/, "no state written from a bad answer");
  });
});
