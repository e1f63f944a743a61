// The handler reaches a Consul that demands client certificates
// (verify_incoming: mTLS), set up either with the config file's consul.* keys
// or with Consul's own CONSUL_* environment variables, which Consul's CLI is
// shown to read the same way. Certificates are made here with openssl.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul } from "../../harness/consul.js";
import { startHaproxy } from "../../harness/haproxy.js";
import { freePort } from "../../harness/ports.js";
import { runCli, writeHandlerConfig } from "../../harness/cli.js";
import { issueCertificate, makeTestCa, startNode, type TestNode } from "../../harness/backends.js";
import { RuntimeApiClient } from "../../../handler/haproxy-runtime-api/index.js";
import { ttlRegistration } from "./stack.js";

/** Consul's own CLI with only the given CONSUL_* variables (none inherited). */
function consulCli(args: string[], environment: Record<string, string>): Promise<{ code: number; output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("CONSUL_")));
  return new Promise((resolve) => {
    execFile("consul", args, { env: { ...clean, ...environment } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

const nodes: TestNode[] = [];
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
});

describe("mTLS to Consul (verify_incoming) through config keys and CONSUL_* variables", async () => {
  const ca = makeTestCa();
  // The server certificate names only consul.test, not 127.0.0.1: connecting to
  // 127.0.0.1 needs CONSUL_TLS_SERVER_NAME / consul.tlsServerName (or no verification).
  const server = issueCertificate(ca, "consul.test", { altNames: ["DNS:consul.test"] });
  const client = issueCertificate(ca, "consul-haproxy-handler", { client: true });
  const consul = await startConsul({ tls: { caFile: ca.caFile, certFile: server.certFile, keyFile: server.keyFile, verifyIncoming: true } });
  const httpsAddress = consul.httpsAddress ?? "";
  const directory = mkdtempSync(join(tmpdir(), "cht-consul-tls-"));
  const socket = join(directory, "admin.sock");
  after(() => consul.cleanup());
  const adminPort = await freePort();
  const haproxy = await startHaproxy({
    adminPort,
    config: `
global
    stats socket ${socket} mode 600 level admin
    stats socket ipv4@127.0.0.1:${adminPort} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend web
    server-template app 1-2 0.0.0.0:8080 disabled init-addr none
`,
  });
  after(() => haproxy.stop());
  const node = await startNode("api-1");
  nodes.push(node);
  await consul.register({ ...ttlRegistration("api-1", node.port), Name: "api" });
  const admin = new RuntimeApiClient(socket);
  const base = { haproxy: { socket }, services: [{ name: "api", backend: "web", slotPrefix: "app" }] };
  const mtlsEnvironment = {
    CONSUL_HTTP_ADDR: httpsAddress,
    CONSUL_CACERT: ca.caFile,
    CONSUL_CLIENT_CERT: client.certFile,
    CONSUL_CLIENT_KEY: client.keyFile,
    CONSUL_TLS_SERVER_NAME: "consul.test",
  };

  test("config keys: caFile, clientCert, clientKey and tlsServerName reach Consul, and check-config says where each came from", async () => {
    const configFile = writeHandlerConfig({
      ...base,
      consul: { address: httpsAddress, caFile: ca.caFile, clientCert: client.certFile, clientKey: client.keyFile, tlsServerName: "consul.test" },
    });
    const result = await runCli(["--config", configFile, "check-config"], { env: { CONSUL_HTTP_ADDR: "http://127.0.0.1:1" } });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^ok {3}consul\\.address: ${httpsAddress.replace(/\./g, "\\.")} \\(from consul\\.address\\)$`, "m"), "the config beats CONSUL_HTTP_ADDR");
    assert.match(result.stdout, /^ok {3}consul\.clientCert: .*cert\.pem \(from consul\.clientCert\)$/m);
    assert.match(result.stdout, /^ok {3}consul: https:\/\/127\.0\.0\.1:\d+: 1 valid instance/m);
  });

  test("without a client certificate Consul refuses the connection, and the handler says so", async () => {
    const configFile = writeHandlerConfig({ ...base, consul: { address: httpsAddress, caFile: ca.caFile, tlsServerName: "consul.test" } });
    const result = await runCli(["--config", configFile, "check-config"]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /^FAIL consul: cannot reach Consul at https:\/\/127\.0\.0\.1:\d+/m);
    // Consul's own CLI with the same settings is refused as well: the failure is Consul's verify_incoming.
    const consulAlone = await consulCli(["catalog", "services"], { CONSUL_HTTP_ADDR: httpsAddress, CONSUL_CACERT: ca.caFile, CONSUL_TLS_SERVER_NAME: "consul.test" });
    assert.notEqual(consulAlone.code, 0, consulAlone.output);
  });

  test("CONSUL_* variables alone (no consul section): sync fills the slot, and Consul's CLI agrees with the same variables", async () => {
    const configFile = writeHandlerConfig(base);
    const consulAlone = await consulCli(["catalog", "services"], mtlsEnvironment);
    assert.equal(consulAlone.code, 0, consulAlone.output);
    assert.match(consulAlone.output, /^api$/m);

    const check = await runCli(["--config", configFile, "check-config"], { env: mtlsEnvironment });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^ok {3}consul\.address: https:\/\/127\.0\.0\.1:\d+ \(from CONSUL_HTTP_ADDR\)$/m);
    assert.match(check.stdout, /^ok {3}consul\.caFile: .* \(from CONSUL_CACERT\)$/m);
    assert.match(check.stdout, /^ok {3}consul\.clientKey: .* \(from CONSUL_CLIENT_KEY\)$/m);
    assert.match(check.stdout, /^ok {3}consul\.tlsServerName: consul\.test \(from CONSUL_TLS_SERVER_NAME\)$/m);

    const sync = await runCli(["--config", configFile, "sync"], { env: mtlsEnvironment });
    assert.equal(sync.code, 0, sync.stderr);
    const app1 = (await admin.showStat()).find((row) => row.pxname === "web" && row.svname === "app1");
    assert.equal(app1?.["addr"], `127.0.0.1:${node.port}`);
  });

  test("CONSUL_TLS_SERVER_NAME is needed for a certificate without the IP, unless CONSUL_HTTP_SSL_VERIFY=false", async () => {
    const configFile = writeHandlerConfig(base);
    const withoutName = { ...mtlsEnvironment, CONSUL_TLS_SERVER_NAME: "" };
    const mismatch = await runCli(["--config", configFile, "check-config"], { env: withoutName });
    assert.equal(mismatch.code, 1, mismatch.stdout);
    assert.match(mismatch.stdout, /^FAIL consul: cannot reach Consul .*(IP|altnames|ERR_TLS_CERT_ALTNAME_INVALID)/m);
    const consulMismatch = await consulCli(["catalog", "services"], withoutName);
    assert.notEqual(consulMismatch.code, 0, "Consul's CLI refuses the same certificate");

    const unverified = await runCli(["--config", configFile, "check-config"], { env: { ...withoutName, CONSUL_CACERT: "", CONSUL_HTTP_SSL_VERIFY: "false" } });
    assert.equal(unverified.code, 0, unverified.stdout + unverified.stderr);
    assert.match(unverified.stdout, /^ok {3}consul\.sslVerify: false \(from CONSUL_HTTP_SSL_VERIFY\)$/m);
  });

  test("an unusable variable is a usage error (exit 2), never a silent fallback", async () => {
    const configFile = writeHandlerConfig(base);
    const result = await runCli(["--config", configFile, "check-config"], { env: { ...mtlsEnvironment, CONSUL_HTTP_SSL_VERIFY: "nope" } });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /CONSUL_HTTP_SSL_VERIFY="nope": expected true or false/);
  });

  test("CONSUL_HTTP_TOKEN_FILE is read (and its path shown, never the token)", async () => {
    const tokenFile = join(directory, "token");
    writeFileSync(tokenFile, "not-a-real-secret-7f3a\n", { mode: 0o600 });
    const configFile = writeHandlerConfig(base);
    const result = await runCli(["--config", configFile, "check-config"], { env: { ...mtlsEnvironment, CONSUL_HTTP_TOKEN_FILE: tokenFile, CONSUL_HTTP_TOKEN: "other-secret-91bc" } });
    assert.match(result.stdout, new RegExp(`^ok {3}consul\\.token: read from ${tokenFile.replace(/\./g, "\\.")} \\(from CONSUL_HTTP_TOKEN_FILE\\)$`, "m"));
    assert.doesNotMatch(result.stdout + result.stderr, /not-a-real-secret-7f3a|other-secret-91bc/);
  });
});

describe("CONSUL_HTTP_ADDR=unix:///path: Consul's API on a unix socket", async () => {
  const consul = await startConsul({ unixSocket: true });
  after(() => consul.cleanup());

  test("check-config reads Consul over the socket, as Consul's CLI does", async () => {
    const unixAddress = consul.unixAddress ?? "";
    const configFile = writeHandlerConfig({ haproxy: { socket: "/nonexistent/admin.sock" }, services: [{ name: "consul", backend: "web", slotPrefix: "app" }] });
    const result = await runCli(["--config", configFile, "check-config"], { env: { CONSUL_HTTP_ADDR: unixAddress } });
    assert.match(result.stdout, new RegExp(`^ok {3}consul\\.address: ${unixAddress.replace(/[.]/g, "\\.")} \\(from CONSUL_HTTP_ADDR\\)$`, "m"));
    assert.match(result.stdout, /^ok {3}consul: unix:\/\/.*: 1 valid instance/m, result.stdout + result.stderr);
    const consulAlone = await consulCli(["catalog", "services"], { CONSUL_HTTP_ADDR: unixAddress });
    assert.match(consulAlone.output, /^consul$/m);
  });
});
