// The certificate commands (#18): exact texts, what each refuses, and the
// reply checks against replies captured from HAProxy 2.6.12, 3.0.11 and
// 3.2.26 (prompt mode, the client's trimming applied; the `+ ` prompts 2.6
// and 3.0 print while reading a payload are the client's to cut, see
// ssl-cert-client.test.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { commands, InvalidCommandArgument, isCertFile, isCertPath, PEM_PAYLOAD_MAX_BYTES, pemPayloadProblem } from "../../../handler/haproxy-runtime-api/index.js";

// PEM-shaped text: the builders check the form, never the DER inside, so no
// real key needs to sit in the repository.
const block = (label: string, lines = ["MIIBszCCAVmgAwIBAgIUQ2hoLXRlc3QtY2VydGlmaWNhdGUtbm90LXJlYWwwCgYI", "KoZIzj0EAwIwFjEUMBIGA1UEAwwLY2hoIHRlc3QgQ0E="]): string =>
  [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join("\n");
const CERT = block("CERTIFICATE");
const KEY = block("PRIVATE KEY");
const PEM = `${CERT}\n${block("CERTIFICATE")}\n${KEY}\n`;

const DIR = "/etc/haproxy/certs";
const FILE = `${DIR}/a.test.pem`;

describe("certificate commands: texts", () => {
  test("each builder's exact command line", () => {
    assert.equal(commands.newSslCert(FILE).text, `new ssl cert ${FILE}`);
    assert.equal(commands.commitSslCert(FILE).text, `commit ssl cert ${FILE}`);
    assert.equal(commands.abortSslCert(FILE).text, `abort ssl cert ${FILE}`);
    assert.equal(commands.addSslCrtList(DIR, FILE).text, `add ssl crt-list ${DIR} ${FILE}`);
    assert.equal(commands.addSslCrtList("/etc/haproxy/crt-list.txt", FILE).text, `add ssl crt-list /etc/haproxy/crt-list.txt ${FILE}`);
    assert.equal(commands.showSslCert().text, "show ssl cert");
    assert.equal(commands.showSslCert(FILE).text, `show ssl cert ${FILE}`);
    assert.equal(commands.showSslCertTransaction(FILE).text, `show ssl cert *${FILE}`);
  });

  test("set ssl cert: the line without '<<' (the client adds it), the PEM as the payload without its final newline", () => {
    const set = commands.setSslCert(FILE, PEM);
    assert.equal(set.text, `set ssl cert ${FILE}`);
    assert.equal(set.payload, PEM.slice(0, -1));
    assert.equal(commands.setSslCert(FILE, PEM.slice(0, -1)).payload, PEM.slice(0, -1), "a PEM without a final newline is the same payload");
    assert.equal(commands.commitSslCert(FILE).payload, undefined, "only set ssl cert has a payload");
  });

  test("the key may come first, and RSA and EC keys in their traditional form are accepted", () => {
    assert.equal(commands.setSslCert(FILE, `${KEY}\n${CERT}`).payload, `${KEY}\n${CERT}`);
    for (const label of ["RSA PRIVATE KEY", "EC PRIVATE KEY"]) assert.doesNotThrow(() => commands.setSslCert(FILE, `${CERT}\n${block(label)}`), label);
  });

  test("commands are frozen", () => {
    assert.ok(Object.isFrozen(commands.setSslCert(FILE, PEM)));
    assert.ok(Object.isFrozen(commands.commitSslCert(FILE)));
  });
});

describe("certificate commands: refusals", () => {
  const refuses = (build: () => unknown, why: string): void => {
    assert.throws(build, InvalidCommandArgument, why);
  };

  test("paths: relative, with separators, spaces, escapes, '..', '//', a trailing slash, too long, or what 'show ssl cert' reads as a transaction", () => {
    const bad = [
      "",
      "a.test.pem",
      "certs/a.test.pem",
      "./a.test.pem",
      "/etc/haproxy/certs/../../shadow.pem",
      "/etc/haproxy/certs/./a.pem",
      "/etc//a.pem",
      "/etc/haproxy/certs/",
      "/etc/a b.pem",
      "/etc/a.pem;show info",
      "/etc/a.pem\nshow info",
      "/etc/a.pem\r",
      "/etc/a\\ b.pem",
      "*/etc/a.pem",
      "/etc/*.pem",
      "/etc/a.pem <<",
      "/etc/<<x",
      "/etc/é.pem",
      `/${"a".repeat(1024)}`,
    ];
    for (const path of bad) {
      refuses(() => commands.newSslCert(path), `new ${JSON.stringify(path)}`);
      refuses(() => commands.setSslCert(path, PEM), `set ${JSON.stringify(path)}`);
      refuses(() => commands.commitSslCert(path), `commit ${JSON.stringify(path)}`);
      refuses(() => commands.abortSslCert(path), `abort ${JSON.stringify(path)}`);
      refuses(() => commands.showSslCert(path), `show ${JSON.stringify(path)}`);
      refuses(() => commands.addSslCrtList(path, FILE), `crt-list ${JSON.stringify(path)}`);
      refuses(() => commands.addSslCrtList(DIR, path), `crt-list entry ${JSON.stringify(path)}`);
    }
    assert.equal(isCertPath(`/${"a".repeat(1023)}`), true, "1024 bytes is the longest path");
    assert.equal(isCertPath("/etc/haproxy/certs/_.wild-card.example.com@2026.pem"), true);
  });

  test("certificate files HAProxy would read as one part (.key, .issuer, .ocsp, .sctl) or 2.6.12 cannot find (.crt)", () => {
    for (const ending of [".crt", ".key", ".issuer", ".ocsp", ".sctl"]) {
      refuses(() => commands.setSslCert(`${DIR}/a.test${ending}`, PEM), ending);
      assert.equal(isCertFile(`${DIR}/a.test${ending}`), false, ending);
      assert.equal(isCertPath(`${DIR}/a.test${ending}`), true, `${ending} is still a path (a crt-list may be named so)`);
    }
    assert.doesNotThrow(() => commands.addSslCrtList(`${DIR}/list.crt`, FILE));
  });

  test("a payload with an empty line: it would end the payload and run the rest as commands", () => {
    refuses(() => commands.setSslCert(FILE, `${CERT}\n\n${KEY}`), "empty line between blocks");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n\nshow info\n`), "empty line then a command");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n\n`), "two final newlines");
    refuses(() => commands.setSslCert(FILE, `\n${CERT}\n${KEY}`), "a leading newline");
    assert.match(pemPayloadProblem(`${CERT}\n\n${KEY}`) ?? "", /line 5 is empty/);
  });

  test("a command injection inside the payload or around it", () => {
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\nshow info`), "a command after the key");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n;show info`), "a ; line");
    refuses(() => commands.setSslCert(FILE, `show info\n${CERT}\n${KEY}`), "a command before the first block");
    refuses(() => commands.setSslCert(FILE, `${CERT.replace("KoZIzj0E", "KoZ show info")}\n${KEY}`), "a space in a base64 line");
    refuses(() => commands.setSslCert(FILE, `${CERT}\r\n${KEY}`), "CRLF");
    refuses(() => commands.setSslCert(`${FILE} <<`, PEM), "'<<' in the file");
  });

  test("anything but CERTIFICATE blocks and one private key", () => {
    refuses(() => commands.setSslCert(FILE, KEY), "no certificate");
    refuses(() => commands.setSslCert(FILE, CERT), "no key");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n${block("EC PRIVATE KEY")}`), "two keys");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${block("ENCRYPTED PRIVATE KEY")}`), "an encrypted key");
    refuses(() => commands.setSslCert(FILE, `${block("EC PARAMETERS")}\n${CERT}\n${KEY}`), "EC parameters");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n${block("DH PARAMETERS")}`), "DH parameters");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${block("PRIVATE KEY", ["Proc-Type: 4,ENCRYPTED", "MIIE"])}`), "a header line");
    refuses(() => commands.setSslCert(FILE, `${block("CERTIFICATE", [])}\n${KEY}`), "an empty block");
    refuses(() => commands.setSslCert(FILE, `${CERT.replace("-----END CERTIFICATE-----", "-----END PRIVATE KEY-----")}\n${KEY}`), "mismatched END");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY.split("\n").slice(0, -1).join("\n")}`), "no END line");
    refuses(() => commands.setSslCert(FILE, `${CERT}\n${KEY}\n# comment`), "a comment");
    refuses(() => commands.setSslCert(FILE, ""), "empty");
    refuses(() => commands.setSslCert(FILE, 42 as unknown as string), "not text");
  });

  test("the size limit: PEM_PAYLOAD_MAX_BYTES (12 KB), so the command and payload fit HAProxy's 16 KB buffer", () => {
    assert.equal(PEM_PAYLOAD_MAX_BYTES, 12 * 1024);
    const line = "A".repeat(63) + "\n";
    const body = (bytes: number): string[] => Array.from({ length: Math.floor(bytes / line.length) }, () => line.slice(0, -1));
    const fitting = `${block("CERTIFICATE", body(PEM_PAYLOAD_MAX_BYTES - KEY.length - 200))}\n${KEY}`;
    assert.ok(Buffer.byteLength(fitting) <= PEM_PAYLOAD_MAX_BYTES && Buffer.byteLength(fitting) > PEM_PAYLOAD_MAX_BYTES - 300);
    assert.doesNotThrow(() => commands.setSslCert(FILE, fitting));
    const tooLong = `${block("CERTIFICATE", body(PEM_PAYLOAD_MAX_BYTES))}\n${KEY}`;
    refuses(() => commands.setSslCert(FILE, tooLong), "over the limit");
  });

  test("a refused payload's error names the line, never the payload (it holds a private key)", () => {
    const secret = "U2VjcmV0S2V5TWF0ZXJpYWxOb3RUb0JlTG9nZ2Vk";
    const payload = `${CERT}\n${block("PRIVATE KEY", [secret, "not base64!"])}`;
    assert.throws(
      () => commands.setSslCert(FILE, payload),
      (error: unknown) => error instanceof InvalidCommandArgument && !error.message.includes(secret) && /not shown/.test(error.message) && /line 7 is neither base64/.test(error.message),
    );
  });
});

describe("certificate commands: replies of HAProxy 2.6.12, 3.0.11 and 3.2.26", () => {
  test("new ssl cert", () => {
    const created = commands.newSslCert(`${DIR}/b.test.pem`);
    assert.equal(created.succeeded(`New empty certificate store '${DIR}/b.test.pem'!`), true);
    assert.equal(created.succeeded(`Certificate '${DIR}/b.test.pem' already exists!`), false);
    assert.equal(created.succeeded(`New empty certificate store '${DIR}/other.pem'!`), false, "another file's store");
  });

  test("set ssl cert: a transaction created or updated for this file", () => {
    const set = commands.setSslCert(FILE, PEM);
    assert.equal(set.succeeded(`Transaction created for certificate ${FILE}!`), true);
    assert.equal(set.succeeded(`Transaction updated for certificate ${FILE}!`), true);
    assert.equal(set.succeeded(`Transaction created for certificate ${DIR}/other.pem!`), false);
    assert.equal(set.succeeded("Can't replace a certificate which is not referenced by the configuration!\nCan't update /nonexist.pem!"), false);
    // 2.6.12 ...
    assert.equal(set.succeeded(`unable to load certificate from file '${FILE}'.\nCan't load the payload\nCan't update ${FILE}!`), false);
    // ... and 3.0.11, 3.2.26 add OpenSSL's reason.
    assert.equal(set.succeeded(`unable to load certificate from file '${FILE}': no start line.\nCan't load the payload\nCan't update ${FILE}!`), false);
    assert.equal(set.succeeded(`The ongoing transaction is about '${DIR}/other.pem' but you are trying to set '${FILE}'`), false);
    assert.equal(set.succeeded("Can't update the certificate!\nOperations on certificates are currently locked!"), false);
  });

  test("commit ssl cert: 'Committing <file>', a dot per instance, 'Success!' last", () => {
    const commit = commands.commitSslCert(FILE);
    assert.equal(commit.succeeded(`Committing ${FILE}.\nSuccess!`), true);
    assert.equal(commit.succeeded(`Committing ${FILE}\nSuccess!`), true, "a store no bind uses yet: no dot");
    assert.equal(commit.succeeded(`Committing ${FILE}...\n[WARNING] (12) : something worth a look\nSuccess!`), true, "3.0+: warnings before Success!");
    assert.equal(commit.succeeded(`inconsistencies between private key and certificate loaded '${FILE}'.\nCan't commit ${FILE}!`), false);
    assert.equal(commit.succeeded(`No ongoing transaction! !\nCan't commit ${FILE}!`), false);
    assert.equal(commit.succeeded(`Committing ${FILE}.\nunable to rebuild the instance\nFailed!`), false);
    assert.equal(commit.succeeded(`Committing ${DIR}/other.pem.\nSuccess!`), false, "another file's commit");
    assert.equal(commit.succeeded(`Committing ${FILE}x.\nSuccess!`), false, "a longer file name");
    assert.equal(commit.succeeded(`Committing ${FILE}.`), false, "no Success! line (yet)");
  });

  test("abort ssl cert", () => {
    const abort = commands.abortSslCert(FILE);
    assert.equal(abort.succeeded(`Transaction aborted for certificate '${FILE}'!`), true);
    assert.equal(abort.succeeded("No ongoing transaction!"), false);
    assert.equal(abort.succeeded(`The ongoing transaction is about '${DIR}/other.pem' but you are trying to abort a transaction for '${FILE}'`), false);
  });

  test("add ssl crt-list: 'Inserting certificate ... in crt-list ...', 'Success!' last", () => {
    const add = commands.addSslCrtList(DIR, `${DIR}/b.test.pem`);
    assert.equal(add.succeeded(`Inserting certificate '${DIR}/b.test.pem' in crt-list '${DIR}'.\nSuccess!`), true);
    assert.equal(add.succeeded(`Can't edit the crt-list: certificate '${DIR}/b.test.pem' is empty!`), false);
    assert.equal(add.succeeded("Can't edit the crt-list: file already exists in this directory!"), false);
    assert.equal(add.succeeded("Can't edit the crt-list: crt-list '/nonexist' does not exist!"), false);
    assert.equal(add.succeeded(`Inserting certificate '${DIR}/b.test.pem' in crt-list '${DIR}'.\nFailed!`), false);
  });

  test("show ssl cert, with and without a file", () => {
    const list = commands.showSslCert();
    assert.equal(list.succeeded(`# filename\n${FILE}`), true);
    assert.equal(list.succeeded(`# transaction\n*${FILE}\n# filename\n${FILE}`), true);
    assert.equal(list.succeeded("Unknown command."), false);
    const one = commands.showSslCert(FILE);
    assert.equal(one.succeeded(`Filename: ${FILE}\nStatus: Used\nSerial: 01`), true);
    assert.equal(one.succeeded(`Filename: ${FILE}\nStatus: Empty\nOCSP Response Key: `), true);
    assert.equal(one.succeeded("Can't display the certificate: Not found or the certificate is a bundle!"), false);
    const pending = commands.showSslCertTransaction(FILE);
    assert.equal(pending.succeeded(`Filename: *${FILE}\nStatus: Uncommitted\nSerial: 01`), true);
    assert.equal(pending.succeeded(`Filename: ${FILE}\nStatus: Used`), false, "the committed store is not the transaction");
  });
});
