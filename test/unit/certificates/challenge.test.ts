// The HTTP-01 responder's path check (handler/certificates/challenge.ts): only
// /.well-known/acme-challenge/<base64url token> reaches the store.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryChallengeStore, answerChallenge, challengeToken, isChallengeToken } from "../../../handler/certificates/challenge.js";

const token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

describe("challengeToken", () => {
  test("a token path gives its token", () => {
    assert.equal(challengeToken(`/.well-known/acme-challenge/${token}`), token);
    assert.equal(challengeToken("/.well-known/acme-challenge/a_-Z9"), "a_-Z9");
  });

  const refused = [
    "/.well-known/acme-challenge/",
    "/.well-known/acme-challenge",
    "/.well-known/acme-challenge/../account.key",
    "/.well-known/acme-challenge/..",
    "/.well-known/acme-challenge/a/b",
    "/.well-known/acme-challenge/a%2e",
    `/.well-known/acme-challenge/${token}?x=1`,
    `/.well-known/acme-challenge/${token}#x`,
    `/.well-known/acme-challenge/${token}=`,
    "/.well-known/acme-challenge/abc def",
    "/.well-known/acme-challenge/abc\n",
    "/.well-known/acme-challenge/é",
    `/.well-known/acme-challenge/${"a".repeat(257)}`,
    `//.well-known/acme-challenge/${token}`,
    `/.WELL-KNOWN/acme-challenge/${token}`,
    `/x/.well-known/acme-challenge/${token}`,
    `.well-known/acme-challenge/${token}`,
    "/",
  ];
  for (const path of refused) {
    test(`refused: ${JSON.stringify(path.length > 60 ? `${path.slice(0, 60)}…` : path)}`, () => {
      assert.equal(challengeToken(path), undefined);
    });
  }

  test("isChallengeToken: base64url only, 1 to 256 characters", () => {
    assert.ok(isChallengeToken("a".repeat(256)));
    assert.equal(isChallengeToken("a".repeat(257)), false);
    assert.equal(isChallengeToken(""), false);
    assert.equal(isChallengeToken("a+b/c"), false);
  });
});

describe("answerChallenge with the in-memory store", () => {
  test("answers a published token, then nothing once removed; a bad path never reaches the store", async () => {
    const store = new MemoryChallengeStore();
    await store.put(token, `${token}.thumbprint`);
    assert.equal(await answerChallenge(`/.well-known/acme-challenge/${token}`, store), `${token}.thumbprint`);
    assert.equal(await answerChallenge("/.well-known/acme-challenge/other", store), undefined);
    const asked: string[] = [];
    const spy = { get: async (key: string) => (asked.push(key), undefined) };
    await answerChallenge("/.well-known/acme-challenge/../x", spy);
    assert.deepEqual(asked, []);
    await store.remove(token);
    assert.equal(store.size, 0);
    assert.equal(await answerChallenge(`/.well-known/acme-challenge/${token}`, store), undefined);
  });

  test("a token that is not base64url is not published", async () => {
    const store = new MemoryChallengeStore();
    await assert.rejects(store.put("../x", "k"), /not base64url/);
    assert.equal(store.size, 0);
  });
});
