// The certificate swap's choices (issue 18): which commands follow from what
// `show ssl cert` listed, and what is sent after a refusal, against a
// scripted admin socket. The real HAProxy: test/integration/lb/certificate-swap.test.ts.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CertificateSwapError, planSwap, swapCertificate, type SessionOpener } from "../../../handler/lb/certificate-swap.js";
import type { CommandReply, RuntimeCommand, RuntimeSession } from "../../../handler/haproxy-runtime-api/index.js";

/** Shaped like a bundle (what the payload check reads); the key's body is a marker no error may repeat. */
const KEY_BODY = "U0VDUkVUS0VZTUFURVJJQUw";
const PEM = `-----BEGIN CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY-----\n`;
const DIR = "/etc/haproxy/certs";
const PATH = `${DIR}/a.test.pem`;

const texts = (list: readonly RuntimeCommand[]): string[] => list.map((command) => command.text);

describe("planSwap", () => {
  test("a file HAProxy has: set + commit, nothing after the write", () => {
    const plan = planSwap({ transaction: undefined, files: [PATH, `${DIR}/b.test.pem`] }, { directory: DIR, file: "a.test.pem", pem: PEM }, "Used");
    assert.equal(plan.kind, "replace");
    assert.equal(plan.path, PATH);
    assert.deepEqual(texts(plan.beforeWrite), [`set ssl cert ${PATH}`, `commit ssl cert ${PATH}`]);
    assert.deepEqual(plan.afterWrite, []);
    assert.equal(plan.beforeWrite[0]?.payload, PEM.slice(0, -1));
  });

  test("a file HAProxy has not loaded: new + set + commit, then add ssl crt-list on the directory", () => {
    const plan = planSwap({ transaction: undefined, files: [`${DIR}/b.test.pem`] }, { directory: DIR, file: "a.test.pem", pem: PEM });
    assert.equal(plan.kind, "add");
    assert.deepEqual(texts(plan.beforeWrite), [`new ssl cert ${PATH}`, `set ssl cert ${PATH}`, `commit ssl cert ${PATH}`]);
    assert.deepEqual(texts(plan.afterWrite), [`add ssl crt-list ${DIR} ${PATH}`]);
  });

  for (const status of ["Unused", "Empty"]) {
    test(`a file HAProxy holds but no bind uses (${status}): set + commit, then add ssl crt-list, no new`, () => {
      const plan = planSwap({ transaction: undefined, files: [PATH] }, { directory: DIR, file: "a.test.pem", pem: PEM }, status);
      assert.equal(plan.kind, "add");
      assert.deepEqual(texts(plan.beforeWrite), [`set ssl cert ${PATH}`, `commit ssl cert ${PATH}`]);
      assert.deepEqual(texts(plan.afterWrite), [`add ssl crt-list ${DIR} ${PATH}`]);
    });
  }

  test("a transaction of the same file left open: aborted first", () => {
    const plan = planSwap({ transaction: PATH, files: [PATH] }, { directory: DIR, file: "a.test.pem", pem: PEM }, "Used");
    assert.deepEqual(texts(plan.beforeWrite), [`abort ssl cert ${PATH}`, `set ssl cert ${PATH}`, `commit ssl cert ${PATH}`]);
  });

  test("another file's transaction open: nothing is planned, the error says how to clear it", () => {
    assert.throws(
      () => planSwap({ transaction: `${DIR}/b.test.pem`, files: [PATH] }, { directory: DIR, file: "a.test.pem", pem: PEM }),
      (error: unknown) => error instanceof CertificateSwapError && /open certificate transaction for \/etc\/haproxy\/certs\/b\.test\.pem/.test(error.message) && /abort ssl cert \/etc\/haproxy\/certs\/b\.test\.pem/.test(error.message),
    );
  });

  for (const [why, file] of [
    ["hidden (HAProxy skips it at a reload)", ".a.test.pem"],
    ["a path, not a name", "sub/a.test.pem"],
    ["a .key ending", "a.test.key"],
    ["a .crt ending", "a.test.crt"],
    ["a space", "a test.pem"],
  ] as const) {
    test(`a file name refused: ${why}`, () => {
      assert.throws(() => planSwap({ transaction: undefined, files: [] }, { directory: DIR, file, pem: PEM }), CertificateSwapError);
    });
  }

  test("a directory that is not a plain absolute path is refused", () => {
    assert.throws(() => planSwap({ transaction: undefined, files: [] }, { directory: "certs", file: "a.pem", pem: PEM }), /certificate directory "certs"/);
    assert.throws(() => planSwap({ transaction: undefined, files: [] }, { directory: "/etc/haproxy/certs/", file: "a.pem", pem: PEM }), CertificateSwapError);
  });

  test("not a bundle: refused before anything is sent, the error does not repeat it", () => {
    const garbage = `${PEM}garbage ${KEY_BODY}\n`;
    assert.throws(
      () => planSwap({ transaction: undefined, files: [PATH] }, { directory: DIR, file: "a.test.pem", pem: garbage }),
      (error: unknown) => error instanceof CertificateSwapError && /nothing was sent/.test(error.message) && !error.message.includes(KEY_BODY),
    );
  });
});

/** An admin socket that answers each command by the first rule its text starts with; records what was sent. */
function scriptedClient(rules: [string, string, boolean][]): SessionOpener & { sent: string[] } {
  const sent: string[] = [];
  const session: RuntimeSession = {
    async execute(list: readonly RuntimeCommand[]): Promise<CommandReply[]> {
      return list.map((command) => {
        sent.push(command.text);
        const rule = rules.find(([prefix]) => command.text.startsWith(prefix));
        const output = rule?.[1] ?? "Unknown command";
        return { command: command.text, output, ok: (rule?.[2] ?? true) && command.succeeded(output) };
      });
    },
  };
  return { sent, session: (work) => work(session) };
}

const listed = (transaction: string | undefined, files: string[]): string => `${transaction === undefined ? "" : `# transaction\n*${transaction}\n`}# filename\n${files.join("\n")}\n`;

describe("swapCertificate against a scripted socket", () => {
  test("replace: set, commit, then the file is on disk whole, 0600, no temporary left", async () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-swap-"));
    const path = join(directory, "a.test.pem");
    const client = scriptedClient([
      [`show ssl cert ${path}`, `Filename: ${path}\nStatus: Used\n`, true],
      ["show ssl cert", listed(undefined, [path]), true],
      ["set ssl cert", `Transaction created for certificate ${path}!`, true],
      ["commit ssl cert", `Committing ${path}.\nSuccess!`, true],
    ]);
    assert.deepEqual(await swapCertificate(client, { directory, file: "a.test.pem", pem: PEM }), { kind: "replace", path });
    assert.deepEqual(client.sent, ["show ssl cert", `show ssl cert ${path}`, `set ssl cert ${path}`, `commit ssl cert ${path}`]);
    assert.equal(readFileSync(path, "utf8"), PEM);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(directory), ["a.test.pem"]);
  });

  test("add: new, set, commit, the write, then add ssl crt-list", async () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-swap-"));
    const path = join(directory, "a.test.pem");
    const client = scriptedClient([
      ["show ssl cert", listed(undefined, []), true],
      ["new ssl cert", `New empty certificate store '${path}'!`, true],
      ["set ssl cert", `Transaction created for certificate ${path}!`, true],
      ["commit ssl cert", `Committing ${path}.\nSuccess!`, true],
      ["add ssl crt-list", `Inserting certificate '${path}' in crt-list '${directory}'.\nSuccess!`, true],
    ]);
    assert.deepEqual(await swapCertificate(client, { directory, file: "a.test.pem", pem: PEM }), { kind: "add", path });
    assert.deepEqual(client.sent, ["show ssl cert", `new ssl cert ${path}`, `set ssl cert ${path}`, `commit ssl cert ${path}`, `add ssl crt-list ${directory} ${path}`]);
    assert.equal(readFileSync(path, "utf8"), PEM);
  });

  test("a refused commit: abort is sent, nothing is written, the error says so and quotes no PEM", async () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-swap-"));
    const path = join(directory, "a.test.pem");
    let aborted = false;
    const client = scriptedClient([
      [`show ssl cert ${path}`, `Filename: ${path}\nStatus: Used\n`, true],
      ["show ssl cert", listed(undefined, [path]), true],
      ["set ssl cert", `Transaction created for certificate ${path}!`, true],
      // A reply quoting the bundle (HAProxy's do not, but an error must not depend on it).
      ["commit ssl cert", `Committing ${path}\n${PEM}Error: inconsistencies between private key and certificate loaded '${path}'.\nFailed!`, true],
      ["abort ssl cert", `Transaction aborted for certificate '${path}'!`, true],
    ]);
    const error = await swapCertificate(client, { directory, file: "a.test.pem", pem: PEM }).catch((caught: unknown) => caught);
    aborted = client.sent.includes(`abort ssl cert ${path}`);
    assert.ok(error instanceof CertificateSwapError, String(error));
    assert.ok(aborted, `abort sent: ${JSON.stringify(client.sent)}`);
    assert.match(error.message, /refused 'commit ssl cert/);
    assert.match(error.message, /inconsistencies between private key and certificate/);
    assert.match(error.message, /HAProxy serves what it served before/);
    assert.match(error.message, /Check the bundle: leaf first/);
    assert.ok(!error.message.includes(KEY_BODY) && !error.message.includes("BEGIN"), error.message);
    assert.equal(existsSync(path), false, "nothing written");
    assert.deepEqual(readdirSync(directory), []);
  });

  test("a refusal that leaves the transaction open: the error says to abort it", async () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-swap-"));
    const path = join(directory, "a.test.pem");
    let shows = 0;
    const client = scriptedClient([
      [`show ssl cert ${path}`, `Filename: ${path}\nStatus: Used\n`, true],
      ["set ssl cert", `Transaction created for certificate ${path}!`, true],
      ["commit ssl cert", "Failed!", true],
      ["abort ssl cert", "Can't abort", false],
    ]);
    const execute = client.session.bind(client);
    const wrapped: SessionOpener = {
      session: (work) =>
        execute((session) =>
          work({
            async execute(list) {
              if (list[0]?.text === "show ssl cert") {
                shows += 1;
                return [{ command: "show ssl cert", output: shows === 1 ? listed(undefined, [path]) : listed(path, [path]), ok: true }];
              }
              return session.execute(list);
            },
          }),
        ),
    };
    await assert.rejects(swapCertificate(wrapped, { directory, file: "a.test.pem", pem: PEM }), new RegExp(`still open: run 'abort ssl cert ${path}'`));
  });

  test("the socket fails after the set: an abort is sent on a new connection", async () => {
    const directory = mkdtempSync(join(tmpdir(), "cht-swap-"));
    const path = join(directory, "a.test.pem");
    const sent: string[] = [];
    let sessions = 0;
    const client: SessionOpener = {
      async session(work) {
        sessions += 1;
        const first = sessions === 1;
        return work({
          async execute(list) {
            const text = list[0]?.text ?? "";
            sent.push(text);
            if (text === "show ssl cert") return [{ command: text, output: listed(undefined, [path]), ok: true }];
            if (text === `show ssl cert ${path}`) return [{ command: text, output: `Filename: ${path}\nStatus: Used\n`, ok: true }];
            if (first) throw new Error("HAProxy did not answer 1 command(s) within 5000 ms");
            return [{ command: text, output: `Transaction aborted for certificate '${path}'!`, ok: true }];
          },
        });
      },
    };
    await assert.rejects(swapCertificate(client, { directory, file: "a.test.pem", pem: PEM }), /admin socket failed while .* its open transaction was aborted/);
    assert.deepEqual(sent, ["show ssl cert", `show ssl cert ${path}`, `set ssl cert ${path}`, `abort ssl cert ${path}`]);
  });
});
