// HTTP-01 challenge responses in a real Consul's KV (issue 18): what one load
// balancer's order publishes, another's responder reads through its own
// client; a removed or unknown token is a 404; an unreachable Consul and a
// token without write say what to do, and no error carries the token or the
// key authorization.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { answerChallenge } from "../../../handler/certificates/challenge.js";
import { validateConfig } from "../../../handler/config/load.js";
import { KvChallengeStore, challengeFolder } from "../../../handler/source/acme-challenges.js";
import { ConsulClient } from "../../../handler/source/consul-http.js";
import { ConsulKv } from "../../../handler/source/consul-kv.js";
import { ConsulUntrusted } from "../../../handler/source/consul-untrusted.js";
import { startConsul, type ConsulAgent } from "../../harness/consul.js";
import { freePort } from "../../harness/ports.js";

const FOLDER = challengeFolder("default");
// Shaped as an order's: base64url token, `<token>.<thumbprint>`.
const TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

interface Opened {
  store: KvChallengeStore;
  client: ConsulClient;
}

const clients: ConsulClient[] = [];

/** A store over a client of its own: another load balancer of the tier. */
function open(address: string, consul: { token?: string; timeoutMs?: number } = {}, cacheMs?: number, now?: () => number): Opened {
  const config = validateConfig({ consul: { address, ...consul }, haproxy: { socket: "/nonexistent.sock" }, services: [{ name: "web", backend: "web", slotPrefix: "s" }] }, "test");
  // No CONSUL_* variable of the machine running the tests.
  const client = new ConsulClient(config.consul, {});
  clients.push(client);
  const options = { ...(cacheMs !== undefined ? { cacheMs } : {}), ...(now !== undefined ? { now } : {}) };
  return { store: new KvChallengeStore(new ConsulKv(config.consul, client), FOLDER, options), client };
}

/** The rejection's message, asserted a ConsulUntrusted free of the token and the key authorization. */
async function refusal(promise: Promise<unknown>): Promise<ConsulUntrusted> {
  let caught: unknown;
  await promise.then(
    () => assert.fail("expected a refusal"),
    (error: unknown) => {
      caught = error;
    },
  );
  assert.ok(caught instanceof ConsulUntrusted, `not a ConsulUntrusted: ${String(caught)}`);
  assert.ok(!caught.message.includes(TOKEN), `the token is in ${caught.message}`);
  return caught;
}

describe("ACME challenge responses in Consul KV", () => {
  let consul: ConsulAgent;
  before(async () => {
    consul = await startConsul();
  });
  after(async () => {
    for (const client of clients) client.close();
    await consul.cleanup();
  });

  test("published by one store, answered by another through its own client, under the tier's folder", async () => {
    const ordering = open(consul.address).store;
    const answering = open(consul.address, {}, 0).store;
    await ordering.put(TOKEN, KEY_AUTHORIZATION);
    const raw = await fetch(`${consul.address}/v1/kv/consul-haproxy-handler/acme/default/challenges/${TOKEN}?raw`);
    assert.equal(await raw.text(), KEY_AUTHORIZATION);
    assert.equal(await answering.get(TOKEN), KEY_AUTHORIZATION);
    assert.equal(await answerChallenge(`/.well-known/acme-challenge/${TOKEN}`, answering), KEY_AUTHORIZATION);
    await ordering.remove(TOKEN);
    assert.equal(await answering.get(TOKEN), undefined);
    assert.equal((await consul.api("GET", `/v1/kv/${FOLDER}${TOKEN}`)).status, 404);
    // Removing what is gone is no error: an order's cleanup may run twice.
    await ordering.remove(TOKEN);
  });

  test("an unknown token is undefined (404), and a path that is not a token never reaches Consul", async () => {
    const { store } = open(consul.address);
    assert.equal(await store.get("no-such-token"), undefined);
    assert.equal(await answerChallenge("/.well-known/acme-challenge/no-such-token", store), undefined);
    // Over a Consul that cannot be reached: a request would throw.
    const nowhere = open(`http://127.0.0.1:${await freePort()}`).store;
    assert.equal(await answerChallenge("/.well-known/acme-challenge/../../lb/default/portmap", nowhere), undefined);
    assert.equal(await nowhere.get("../../lb/default/portmap"), undefined);
    assert.equal(await nowhere.get(""), undefined);
  });

  test("a response read is kept for cacheMs, then asked again", async () => {
    let now = 1_000_000;
    const ordering = open(consul.address).store;
    const answering = open(consul.address, {}, 5000, () => now).store;
    await ordering.put(TOKEN, KEY_AUTHORIZATION);
    assert.equal(await answering.get(TOKEN), KEY_AUTHORIZATION);
    await ordering.remove(TOKEN);
    assert.equal(await answering.get(TOKEN), KEY_AUTHORIZATION, "kept within cacheMs");
    now += 5001;
    assert.equal(await answering.get(TOKEN), undefined);
  });

  test("a value in the folder that is not a key authorization for its token is not served", async () => {
    const { store } = open(consul.address, {}, 0);
    const put = await fetch(`${consul.address}/v1/kv/${FOLDER}${TOKEN}`, { method: "PUT", body: "<script>x</script>" });
    assert.equal(put.status, 200);
    const error = await refusal(store.get(TOKEN));
    assert.equal(error.reason, "bad-answer");
    assert.match(error.message, /not a key authorization for its token; the response is not served/);
    assert.ok(!error.message.includes("script"));
    await store.remove(TOKEN);
  });

  test("put refuses a token or a key authorization out of RFC 8555 before asking Consul", async () => {
    const { store } = open(consul.address);
    await assert.rejects(store.put("a/b", KEY_AUTHORIZATION), /token is not base64url/);
    await assert.rejects(store.put(TOKEN, "other.thumbprint"), /not <token>\.<thumbprint>/);
    await assert.rejects(store.put(TOKEN, `${TOKEN}.x\ny`), /not <token>\.<thumbprint>/);
  });

  test("an unreachable Consul: an error that names the address and says to check consul.address, without the secrets", async () => {
    const address = `http://127.0.0.1:${await freePort()}`;
    const { store } = open(address, { timeoutMs: 2000 });
    for (const attempt of [store.put(TOKEN, KEY_AUTHORIZATION), store.get(TOKEN), store.remove(TOKEN)]) {
      const error = await refusal(attempt);
      assert.equal(error.reason, "unreachable");
      assert.ok(error.message.includes(address.replace("http://", "")), error.message);
      assert.match(error.message, /an ACME challenge response: cannot reach Consul at .*; check consul\.address$/);
      assert.ok(!error.message.includes("9jg46WB3rR"), error.message);
    }
  });
});

describe("ACME challenge responses and Consul's ACLs", () => {
  let consul: ConsulAgent;
  before(async () => {
    consul = await startConsul({ acl: true });
  });
  after(async () => {
    await consul.cleanup();
  });

  test("a token with read only on the folder answers but cannot publish, and is told which policy to add", async () => {
    const reader = await consul.createToken(`key_prefix "${FOLDER}" { policy = "read" }`);
    const writer = await consul.createToken(`key_prefix "consul-haproxy-handler/" { policy = "write" }`);
    const responder = open(consul.address, { token: reader }, 0).store;
    const error = await refusal(responder.put(TOKEN, KEY_AUTHORIZATION));
    assert.equal(error.reason, "acl-denied");
    assert.match(error.message, /^publishing an ACME challenge response: Consul refused the KV write under consul-haproxy-handler\/acme\/default\/challenges\/ \(HTTP 403\); give the token key_prefix "consul-haproxy-handler\/acme\/default\/challenges\/" policy = "write"$/);
    await open(consul.address, { token: writer }).store.put(TOKEN, KEY_AUTHORIZATION);
    assert.equal(await responder.get(TOKEN), KEY_AUTHORIZATION);
  });
});
