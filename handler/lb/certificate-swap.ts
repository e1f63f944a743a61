// A new or renewed certificate into the running HAProxy over the runtime API
// (issue 18), and onto disk for its next reload: no reload, no restart, the
// worker keeps its Pid and its connections; new handshakes get the new
// certificate from the commit on.
//
// The listeners end TLS with `bind ... ssl crt <directory>` (the portmap's
// rendering). HAProxy treats that directory as an implicit crt-list of its
// files: a file it loaded is replaced with `set ssl cert` + `commit ssl
// cert`; a file it has not loaded (a new name) becomes an empty store (`new
// ssl cert`), is filled and committed, then served with `add ssl crt-list
// <directory> <file>`; so is a store HAProxy holds but no bind uses (a swap
// whose `add ssl crt-list` was refused is finished by the next one).
//
// HAProxy is asked first and the disk written after the commit: HAProxy checks
// the PEM (at `set`) and that the key matches the certificate (only at
// `commit`), so a bundle it refuses never reaches the directory, where it would
// make the next reload fail. The PEM holds a private key: no error built here
// repeats it, nor any reply that might quote it.
import { join } from "node:path";
import {
  commands,
  isCertFile,
  isCertPath,
  parseShowSslCert,
  parseShowSslCertList,
  pemPayloadProblem,
  CERT_PATH_RULE,
  type CommandReply,
  type RuntimeCommand,
  type RuntimeSession,
  type SslCertList,
} from "../haproxy-runtime-api/index.js";
import { writeWhole } from "./files.js";

export interface CertificateSwap {
  /** The `crt <directory>` of the TLS binds: an absolute path, as the configuration names it. */
  directory: string;
  /** The file's name in it, e.g. `a.test.pem`. */
  file: string;
  /** Leaf, chain and private key, as HAProxy's `crt` loads it. */
  pem: string;
}

/** `replace`: HAProxy served the file and serves the new certificate in its place; `add`: the store is then added to the directory's crt-list. */
export type SwapKind = "replace" | "add";

export interface SwapPlan {
  kind: SwapKind;
  /** `<directory>/<file>`: how HAProxy names the store. */
  path: string;
  /** Sent one at a time, each only once the one before it succeeded, before the file is written. */
  beforeWrite: RuntimeCommand[];
  /** Sent after the file is written: `add ssl crt-list` for a new store. */
  afterWrite: RuntimeCommand[];
}

export interface SwapResult {
  kind: SwapKind;
  path: string;
}

/** A swap that did not happen, or not wholly: the message says what HAProxy and the disk hold now, and what to do. */
export class CertificateSwapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateSwapError";
  }
}

/** What swapCertificate needs of a RuntimeApiClient: one connection for the whole swap. */
export interface SessionOpener {
  session<T>(work: (session: RuntimeSession) => Promise<T>): Promise<T>;
}

const FILE_NAME = /^[A-Za-z0-9@_-][A-Za-z0-9@._-]{0,254}$/;

/** `<directory>/<file>`, or an error that names the rule the value breaks. */
function storePath(directory: string, file: string): string {
  if (!isCertPath(directory)) throw new CertificateSwapError(`certificate directory ${JSON.stringify(directory)} is not ${CERT_PATH_RULE}: use the path the binds' 'crt' names`);
  // Not hidden: HAProxy skips a crt directory's hidden files at its next reload (and files.ts uses such names for its temporaries).
  if (!FILE_NAME.test(file)) throw new CertificateSwapError(`certificate file name ${JSON.stringify(file)} is not a name of letters, digits and '@', '.', '_', '-' that does not start with '.' (at most 255)`);
  const path = join(directory, file);
  if (!isCertFile(path)) throw new CertificateSwapError(`certificate file ${path} may not end in .crt, .key, .issuer, .ocsp or .sctl: HAProxy loads those as parts of another file; name it <name>.pem`);
  return path;
}

/**
 * The commands for swapping `swap` in, chosen from what `show ssl cert`
 * listed (`loaded`) and, when it lists the file, the `Status` HAProxy gives
 * it (`status`): `Used` (or unknown) is served by a bind; `Unused` (committed, not in a
 * crt-list: an earlier swap whose `add ssl crt-list` was refused) and `Empty`
 * (made by `new ssl cert`, never committed) are filled and added, without
 * `new`. Pure: nothing is sent. Throws a CertificateSwapError when nothing
 * should be sent: a bad name or PEM, or another file's transaction open
 * (HAProxy holds one at a time).
 */
export function planSwap(loaded: SslCertList, swap: CertificateSwap, status?: string): SwapPlan {
  const path = storePath(swap.directory, swap.file);
  const problem = pemPayloadProblem(swap.pem);
  if (problem !== undefined) {
    throw new CertificateSwapError(`the certificate for ${path} is not a bundle HAProxy's runtime API takes (${problem}): nothing was sent or written, HAProxy serves what it served; it must be PEM blocks of CERTIFICATE (leaf first) and one private key`);
  }
  if (loaded.transaction !== undefined && loaded.transaction !== path) {
    throw new CertificateSwapError(
      `HAProxy has an open certificate transaction for ${loaded.transaction} and takes one at a time: nothing was sent for ${path}. Finish it (commit ssl cert ${loaded.transaction}) or drop it (abort ssl cert ${loaded.transaction}) on the admin socket, then swap again`,
    );
  }
  // A transaction of this very file was left open (a swap cut off): dropped first, so that only this PEM is committed.
  const leftover = loaded.transaction === path ? [commands.abortSslCert(path)] : [];
  const fill = [commands.setSslCert(path, swap.pem), commands.commitSslCert(path)];
  const add = [commands.addSslCrtList(swap.directory, path)];
  if (!loaded.files.includes(path)) return { kind: "add", path, beforeWrite: [...leftover, commands.newSslCert(path), ...fill], afterWrite: add };
  if (status === "Unused" || status === "Empty") return { kind: "add", path, beforeWrite: [...leftover, ...fill], afterWrite: add };
  // `Used`, or a status not known here: served already; a second crt-list entry is not wanted.
  return { kind: "replace", path, beforeWrite: [...leftover, ...fill], afterWrite: [] };
}

/** A reply on one line, without any PEM block or the bundle itself, cut short: fit for an error. */
function quoted(output: string, pem: string): string {
  const bundle = pem.trim();
  const text = (bundle === "" ? output : output.split(bundle).join("[PEM removed]"))
    .replace(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g, "[PEM removed]")
    .replace(/\s+/g, " ")
    .trim();
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 299)}…` : text);
}

async function sendOne(session: RuntimeSession, command: RuntimeCommand): Promise<CommandReply> {
  const [reply] = await session.execute([command]);
  return reply ?? { command: command.text, output: "", ok: false };
}

/** The `Status` of the store `<directory>/<file>` when HAProxy lists it (see planSwap), else undefined. */
async function statusOf(session: RuntimeSession, loaded: SslCertList, swap: CertificateSwap): Promise<string | undefined> {
  const path = join(swap.directory, swap.file);
  // A path HAProxy may not be asked about is refused by planSwap, with the reason.
  if (!isCertFile(path) || !loaded.files.includes(path)) return undefined;
  const shown = await sendOne(session, commands.showSslCert(path));
  if (!shown.ok) throw new CertificateSwapError(`HAProxy refused 'show ssl cert ${path}' (${quoted(shown.output, swap.pem)}) though it lists the file: nothing was swapped; try again`);
  return parseShowSslCert(shown.output).status;
}

/**
 * Drops this file's transaction after a refusal, and says whether one is
 * still open: HAProxy takes no other file's transaction until it is gone.
 */
async function abortAfterRefusal(session: RuntimeSession, path: string): Promise<string> {
  // Refused ("No ongoing transaction") when the refusal came before a transaction was opened: nothing to drop then.
  await sendOne(session, commands.abortSslCert(path));
  const listed = await sendOne(session, commands.showSslCert());
  if (!listed.ok) return `whether a transaction is still open is not known ('show ssl cert' was refused): look with 'show ssl cert' and run 'abort ssl cert ${path}' if it lists one`;
  const open = parseShowSslCertList(listed.output).transaction;
  if (open === path) return `its transaction is still open: run 'abort ssl cert ${path}' on the admin socket`;
  return "its transaction was aborted";
}

/**
 * Serves `swap.pem` as `<directory>/<file>` in the running HAProxy and
 * writes it there (0600) for the next reload. Throws a CertificateSwapError
 * when HAProxy refuses a step: the transaction is aborted, and the message
 * says what is served and on disk now.
 */
export async function swapCertificate(client: SessionOpener, swap: CertificateSwap): Promise<SwapResult> {
  /** The store's path once a command that may open its transaction is on its way. */
  let sent: string | undefined;
  try {
    return await swapOnSession(client, swap, (path) => (sent = path));
  } catch (error) {
    if (error instanceof CertificateSwapError || sent === undefined) throw error;
    // The socket failed mid-swap (a timeout, HAProxy closing it): a transaction may be open, and HAProxy would refuse every other file's until it is gone.
    const path = sent;
    const cleanup = await client.session((session) => sendOne(session, commands.abortSslCert(path))).then(
      (reply) => (reply.ok ? "its open transaction was aborted" : `'abort ssl cert ${path}' found no transaction to abort (${quoted(reply.output, swap.pem)})`),
      () => `whether its transaction is still open is not known: look with 'show ssl cert' and run 'abort ssl cert ${path}' if it lists one`,
    );
    throw new CertificateSwapError(`the HAProxy admin socket failed while ${path} was swapped (${(error as Error).message}): ${cleanup}. What HAProxy serves for it is not known; swap it again`);
  }
}

async function swapOnSession(client: SessionOpener, swap: CertificateSwap, sending: (path: string) => void): Promise<SwapResult> {
  return client.session(async (session) => {
    const listed = await sendOne(session, commands.showSslCert());
    if (!listed.ok) throw new CertificateSwapError(`HAProxy refused 'show ssl cert' (${quoted(listed.output, swap.pem)}): nothing was swapped; the admin socket must be 'level admin' and HAProxy built with SSL`);
    const loaded = parseShowSslCertList(listed.output);
    const plan = planSwap(loaded, swap, await statusOf(session, loaded, swap));

    sending(plan.path);
    for (const command of plan.beforeWrite) {
      const reply = await sendOne(session, command);
      if (reply.ok) continue;
      const aborted = await abortAfterRefusal(session, plan.path);
      // `set` and `commit` refuse the bundle itself; `new` and a leftover's `abort` refuse for reasons their reply gives.
      const hint = /^(?:set|commit) ssl cert /.test(command.text)
        ? "Check the bundle: leaf first, then its chain, and the private key of the leaf (HAProxy checks that they match only at the commit)"
        : "HAProxy's reply says why; 'show ssl cert' lists the certificates it holds";
      throw new CertificateSwapError(
        `HAProxy refused '${command.text}' for the certificate of ${plan.path} (${quoted(reply.output, swap.pem)}): ${aborted}. HAProxy serves what it served before and ${plan.path} on disk is unchanged. ${hint}`,
      );
    }

    try {
      writeWhole(plan.path, swap.pem, 0o600);
    } catch (error) {
      const served = plan.kind === "replace" ? "HAProxy serves the new certificate now" : "HAProxy holds the new certificate but does not serve it";
      throw new CertificateSwapError(
        `cannot write ${plan.path} (${(error as NodeJS.ErrnoException).code ?? String(error)}): ${served}, and its next reload would load the old file. The certificate directory must be writable by the handler's user`,
      );
    }

    for (const command of plan.afterWrite) {
      const reply = await sendOne(session, command);
      if (reply.ok) continue;
      await abortAfterRefusal(session, plan.path);
      throw new CertificateSwapError(
        `HAProxy refused '${command.text}' (${quoted(reply.output, swap.pem)}): the certificate of ${plan.path} is committed and written, but no bind serves it until HAProxy reloads. ` +
          `Check that ${swap.directory} is the 'crt' of the TLS binds, then swap it again or reload HAProxy`,
      );
    }
    return { kind: plan.kind, path: plan.path };
  });
}
