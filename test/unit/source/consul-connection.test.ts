import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, filterProblem, normaliseConsulAddress, validateConfig, type ConsulConfig } from "../../../handler/config/config.js";
import { selectionKey } from "../../../handler/planner/selection.js";
import { describeConnection, resolveConsulConnection } from "../../../handler/source/consul-connection.js";

const base: ConsulConfig = { timeoutMs: 5000, aclCanaryService: "consul", blockingWaitSeconds: 60 };

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("Consul connection settings (config > CONSUL_* environment > default)", () => {
  test("Consul's address forms", () => {
    assert.equal(normaliseConsulAddress("127.0.0.1:8500"), "http://127.0.0.1:8500");
    assert.equal(normaliseConsulAddress("127.0.0.1:8501", "https"), "https://127.0.0.1:8501");
    assert.equal(normaliseConsulAddress("https://consul.example.com:8501/"), "https://consul.example.com:8501");
    assert.equal(normaliseConsulAddress("[::1]:8500"), "http://[::1]:8500");
    assert.equal(normaliseConsulAddress("unix:///run/consul/http.sock"), "unix:///run/consul/http.sock");
    for (const bad of ["ftp://h:1", "http://h:1/v1", "unix://relative", "http://", "a b:1"]) assert.equal(normaliseConsulAddress(bad), undefined, bad);
  });

  test("the defaults when nothing is set", () => {
    const connection = resolveConsulConnection(base, {});
    assert.equal(connection.address.value, "http://127.0.0.1:8500");
    assert.equal(connection.address.origin.kind, "default");
    assert.equal(connection.token.value, undefined);
    assert.equal(connection.sslVerify.value, true);
  });

  test("each CONSUL_* variable fills its setting, and the config file beats it", () => {
    const environment = {
      CONSUL_HTTP_ADDR: "10.0.0.9:8501",
      CONSUL_HTTP_SSL: "true",
      CONSUL_CACERT: "/env/ca.pem",
      CONSUL_CAPATH: "/env/cas",
      CONSUL_CLIENT_CERT: "/env/cert.pem",
      CONSUL_CLIENT_KEY: "/env/key.pem",
      CONSUL_HTTP_SSL_VERIFY: "0",
      CONSUL_TLS_SERVER_NAME: "env.consul",
      CONSUL_HTTP_TOKEN: "env-token",
    };
    const fromEnvironment = resolveConsulConnection(base, environment);
    assert.equal(fromEnvironment.address.value, "https://10.0.0.9:8501", "CONSUL_HTTP_SSL gives a bare host:port https");
    assert.deepEqual(fromEnvironment.address.origin, { kind: "environment", variable: "CONSUL_HTTP_ADDR" });
    assert.deepEqual(fromEnvironment.token.value, { inline: "env-token" });
    assert.equal(fromEnvironment.caFile.value, "/env/ca.pem");
    assert.equal(fromEnvironment.caPath.value, "/env/cas");
    assert.equal(fromEnvironment.clientCert.value, "/env/cert.pem");
    assert.equal(fromEnvironment.clientKey.value, "/env/key.pem");
    assert.equal(fromEnvironment.sslVerify.value, false);
    assert.equal(fromEnvironment.tlsServerName.value, "env.consul");

    const configured: ConsulConfig = {
      ...base,
      address: "https://127.0.0.1:8501",
      tokenFile: "/etc/token",
      caFile: "/etc/ca.pem",
      caPath: "/etc/cas",
      clientCert: "/etc/cert.pem",
      clientKey: "/etc/key.pem",
      sslVerify: true,
      tlsServerName: "config.consul",
    };
    const fromConfig = resolveConsulConnection(configured, environment);
    assert.equal(fromConfig.address.value, "https://127.0.0.1:8501");
    assert.deepEqual(fromConfig.token.value, { file: "/etc/token" });
    assert.equal(fromConfig.caFile.value, "/etc/ca.pem");
    assert.equal(fromConfig.caPath.value, "/etc/cas");
    assert.equal(fromConfig.clientCert.value, "/etc/cert.pem");
    assert.equal(fromConfig.sslVerify.value, true);
    assert.equal(fromConfig.tlsServerName.value, "config.consul");
    for (const row of describeConnection(fromConfig)) assert.match(row.origin, /^consul\./, row.key);
  });

  test("as in Consul's client, CONSUL_HTTP_TOKEN_FILE wins over CONSUL_HTTP_TOKEN; an empty variable is unset", () => {
    const connection = resolveConsulConnection(base, { CONSUL_HTTP_TOKEN: "t", CONSUL_HTTP_TOKEN_FILE: "/run/token", CONSUL_HTTP_ADDR: "" });
    assert.deepEqual(connection.token.value, { file: "/run/token" });
    assert.equal(connection.address.origin.kind, "default");
  });

  test("the token itself is never shown", () => {
    const rows = describeConnection(resolveConsulConnection({ ...base, token: "s3cr3t-token" }, {}));
    assert.doesNotMatch(JSON.stringify(rows), /s3cr3t/);
    assert.ok(rows.some((row) => row.key === "token" && row.value === "set (not shown)" && row.origin === "consul.token"));
  });

  test("unusable values are errors, not silent fallbacks", () => {
    assert.deepEqual(problemsOf(() => resolveConsulConnection(base, { CONSUL_HTTP_SSL_VERIFY: "nope" })), ['CONSUL_HTTP_SSL_VERIFY="nope": expected true or false (or 1/0, t/f)']);
    assert.match(problemsOf(() => resolveConsulConnection(base, { CONSUL_HTTP_ADDR: "ftp://x:1" }))[0] ?? "", /CONSUL_HTTP_ADDR="ftp:\/\/x:1": expected host:port/);
    assert.match(problemsOf(() => resolveConsulConnection(base, { CONSUL_CLIENT_CERT: "/c.pem" }))[0] ?? "", /client certificate needs its key/);
    const config = (consul: Record<string, unknown>) => () => validateConfig({ consul, haproxy: { socket: "/s" }, services: [{ name: "a", backend: "b", slotPrefix: "c" }] }, "t.yml");
    assert.deepEqual(problemsOf(config({ token: "a", tokenFile: "/b" })), ["consul.token and consul.tokenFile: set one, not both"]);
    assert.match(problemsOf(config({ address: "http://h:1/v1" }))[0] ?? "", /consul\.address: "http:\/\/h:1\/v1" is not valid/);
    assert.match(problemsOf(config({ sslVerify: "no" }))[0] ?? "", /consul\.sslVerify: expected true or false/);
  });
});

describe("service selection (tag, filter)", () => {
  test("the light filter check catches what would only fail at Consul", () => {
    assert.equal(filterProblem('Service.Meta.env == "prod"'), undefined);
    assert.equal(filterProblem('"canary" in Service.Tags and (Service.Port != 80)'), undefined);
    assert.equal(filterProblem("Service.Tags is not empty"), undefined);
    assert.match(filterProblem('Service.Meta.env == "prod') ?? "", /unclosed "/);
    assert.match(filterProblem("(Service.Port == 1") ?? "", /'\(' without/);
    assert.match(filterProblem("Service.Port == 1)") ?? "", /'\)' without/);
    assert.match(filterProblem("prod") ?? "", /no operator/);
    assert.match(filterProblem('Service.Port == 1\nor Service.Port == 2') ?? "", /control character/);
  });

  test("one key per distinct selection", () => {
    assert.equal(selectionKey({ name: "iri" }), "iri");
    assert.notEqual(selectionKey({ name: "iri", tag: "blue" }), selectionKey({ name: "iri", filter: "blue in Service.Tags" }));
  });
});
