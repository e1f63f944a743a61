// The client's payload commands against a stand-in for HAProxy's CLI in
// prompt mode: what goes over the wire (the line ending in `<<`, the payload,
// the empty line that ends it), and the `+ ` prompts cut off the reply, in
// both ways HAProxy prints them (2.6 and 3.0: one per payload line; 3.2: one
// per read that ends inside the payload, often none). The real thing is in
// test/integration/haproxy-runtime-api/ssl-cert.test.ts.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { commands, RuntimeApiClient, RuntimeApiError, type RuntimeCommand } from "../../../handler/haproxy-runtime-api/index.js";

const block = (label: string): string => [`-----BEGIN ${label}-----`, "MIIBszCCAVmgAwIBAgIUQ2hoLXRlc3QtY2VydGlmaWNhdGUtbm90LXJlYWwwCgYI", `-----END ${label}-----`].join("\n");
const PEM = `${block("CERTIFICATE")}\n${block("PRIVATE KEY")}\n`;
const FILE = "/etc/haproxy/certs/a.test.pem";

type PromptStyle = "per-line" | "per-read";

interface FakeCli {
  address: string;
  /** Every byte the client wrote, in order. */
  received(): string;
  /** Each command as HAProxy would run it: its line, and its payload if any. */
  ran: { line: string; payload: string | undefined }[];
}

const servers: Server[] = [];
after(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
});

/**
 * HAProxy's CLI in prompt mode, as src/cli.c of 2.6 to 3.2 reads it: a line
 * ending in `<<` starts a payload, which ends at the first empty line;
 * `set ssl cert` answers as HAProxy does, any other command `ok <line>`.
 */
async function fakeCli(style: PromptStyle): Promise<FakeCli> {
  let bytes = "";
  const ran: FakeCli["ran"] = [];
  const server = createServer((socket: Socket) => {
    let pending = "";
    let payloadOf: string | undefined;
    let payload: string[] = [];
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      bytes += chunk;
      pending += chunk;
      let out = "";
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (payloadOf !== undefined) {
          if (line !== "") {
            payload.push(line);
            if (style === "per-line") out += "+ ";
            continue;
          }
          ran.push({ line: payloadOf, payload: payload.join("\n") });
          out += `Transaction created for certificate ${payloadOf.replace(/^set ssl cert /, "")}!\n\n> `;
          payloadOf = undefined;
          continue;
        }
        if (line === "prompt") out += "\n> ";
        else if (line === "quit") socket.end();
        else if (line.endsWith(" <<")) {
          payloadOf = line.slice(0, -3);
          payload = [];
          if (style === "per-line") out += "+ ";
        } else {
          ran.push({ line, payload: undefined });
          out += `ok ${line}\n\n> `;
        }
      }
      // 3.2 prompts once when a read ends inside a payload.
      if (style === "per-read" && payloadOf !== undefined) out += "+ ";
      if (out !== "" && !socket.destroyed) socket.write(out, "latin1");
    });
    socket.on("error", () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, received: () => bytes, ran };
}

/** A command that echoes, to see the replies stay in order around a payload command. */
const echo = (text: string): RuntimeCommand => ({ text, succeeded: (output) => output === `ok ${text}` });

describe("payload commands over the client", () => {
  for (const style of ["per-line", "per-read"] as const) {
    test(`the wire bytes, and each reply its own with the '+ ' prompts cut (${style})`, async () => {
      const cli = await fakeCli(style);
      const client = new RuntimeApiClient(cli.address);
      const replies = await client.execute([echo("show info"), commands.setSslCert(FILE, PEM), echo("commit ssl cert x")]);
      assert.deepEqual(
        replies.map(({ command, output, ok }) => ({ command, output, ok })),
        [
          { command: "show info", output: "ok show info", ok: true },
          { command: `set ssl cert ${FILE}`, output: `Transaction created for certificate ${FILE}!`, ok: true },
          { command: "commit ssl cert x", output: "ok commit ssl cert x", ok: true },
        ],
      );
      // (`quit` follows, once the client closes the connection.)
      assert.equal(cli.received().replace(/quit\n$/, ""), `prompt\nshow info\nset ssl cert ${FILE} <<\n${PEM}\ncommit ssl cert x\n`, "the PEM's lines, then one empty line");
      assert.deepEqual(cli.ran[1], { line: `set ssl cert ${FILE}`, payload: PEM.slice(0, -1) });
      assert.equal(cli.ran.length, 3, "the payload ran no command of its own");
    });
  }

  test("a reply never names the payload: the command is its line alone", async () => {
    const cli = await fakeCli("per-line");
    const [reply] = await new RuntimeApiClient(cli.address).execute([commands.setSslCert(FILE, PEM)]);
    assert.equal(reply?.command, `set ssl cert ${FILE}`);
    assert.ok(!JSON.stringify(reply).includes("BEGIN"));
  });

  test("a hand-made payload with an empty line, a CR or a newline at an end is refused before anything is written", async () => {
    const cli = await fakeCli("per-line");
    const client = new RuntimeApiClient(cli.address);
    for (const payload of [`${block("CERTIFICATE")}\n\nshow info`, "a\r\nb", "\nabc", "abc\n", ""]) {
      const handMade: RuntimeCommand = { text: `set ssl cert ${FILE}`, payload, succeeded: () => true };
      await assert.rejects(client.execute([echo("show info"), handMade]), (error: unknown) => error instanceof RuntimeApiError && /payload/.test(error.message) && !error.message.includes("BEGIN"), JSON.stringify(payload));
    }
    assert.equal(cli.ran.filter(({ line }) => line !== "show info").length, 0);
    assert.ok(!cli.received().includes("<<"), "no payload command was written");
  });

  test("a command and payload longer than maxPayloadCommandBytes are refused (HAProxy's buffer would overflow)", async () => {
    const cli = await fakeCli("per-read");
    const client = new RuntimeApiClient(cli.address, { maxPayloadCommandBytes: 200 });
    await assert.rejects(client.execute([commands.setSslCert(FILE, PEM)]), /longer than 200 bytes/);
    const roomy = new RuntimeApiClient(cli.address, { maxPayloadCommandBytes: 1000 });
    assert.equal((await roomy.execute([commands.setSslCert(FILE, PEM)]))[0]?.ok, true);
  });
});
