// Every runtime API command the project sends is built here, from typed
// arguments that are validated before they become text. The admin socket
// runs anything at admin level, and `;`, spaces and newlines separate
// commands and arguments, so a value that is not exactly what it claims to
// be (an IP literal, a port, an integer in range, a known word, a strict
// name) throws instead of being sent.
import {
  CERT_FILE_REFUSED_ENDINGS,
  CERT_PATH_RULE,
  describeRange,
  isCertFile,
  isCertPath,
  isIpLiteral,
  isKeyword,
  isName,
  isWithin,
  KEYWORD_RULE,
  MAXCONN,
  NAME_RULE,
  pemPayloadProblem,
  PORT,
  SERVER_ID,
  WEIGHT,
  type WholeNumberRange,
} from "./limits.js";

export type ServerAdminState = "ready" | "drain" | "maint";
export type ServerHealth = "up" | "stopping" | "down";

export interface RuntimeCommand {
  readonly text: string;
  /**
   * Lines sent after the command line, which then ends with `<<`: HAProxy
   * reads them up to the first empty line, so a payload never holds one (nor
   * a CR, nor a newline at either end).
   */
  readonly payload?: string;
  /** True when HAProxy's reply to this command means success. */
  readonly succeeded: (output: string) => boolean;
}

/** Stands for a value an error must not repeat (a payload with a private key). */
const HIDDEN: unique symbol = Symbol("hidden");

export class InvalidCommandArgument extends Error {
  constructor(argument: string, value: unknown, expected: string) {
    super(`refusing to build a runtime command: ${argument} ${value === HIDDEN ? "(not shown: it may hold a private key)" : JSON.stringify(value)} is not ${expected}`);
    this.name = "InvalidCommandArgument";
  }
}

function name(argument: string, value: string): string {
  if (!isName(value)) throw new InvalidCommandArgument(argument, value, `a name of ${NAME_RULE}`);
  return value;
}

function integer(argument: string, value: number, range: WholeNumberRange): number {
  if (!isWithin(value, range)) throw new InvalidCommandArgument(argument, value, describeRange(range));
  return value;
}

function ipLiteral(value: string): string {
  if (!isIpLiteral(value)) throw new InvalidCommandArgument("address", value, "an IPv4 or IPv6 literal");
  return value;
}

function word<T extends string>(argument: string, value: T, words: readonly T[]): T {
  if (!words.includes(value)) throw new InvalidCommandArgument(argument, value, `one of ${words.join(", ")}`);
  return value;
}

function server(backend: string, serverName: string): string {
  return `${name("backend", backend)}/${name("server", serverName)}`;
}

const silent = (output: string): boolean => output.trim() === "";
const startsWith =
  (...prefixes: string[]) =>
  (output: string): boolean =>
    prefixes.some((prefix) => output.trimStart().startsWith(prefix));

function command(text: string, succeeded: (output: string) => boolean): RuntimeCommand {
  // Defence in depth: the builders above already refuse these characters.
  // `<<` would start a payload (2.6: any line ending in it; 3.0 and later: a
  // last word starting with it) and swallow the commands after it.
  if (/[\r\n;]|<</.test(text)) throw new InvalidCommandArgument("command", text, "a single command");
  return Object.freeze({ text, succeeded });
}

/** A command with a payload (see RuntimeCommand.payload); the text is checked as any command's. */
function payloadCommand(text: string, payload: string, succeeded: (output: string) => boolean): RuntimeCommand {
  const checked = command(text, succeeded);
  if (payload === "" || /\r|\n\n|^\n|\n$/.test(payload)) throw new InvalidCommandArgument("payload", HIDDEN, "lines without an empty one");
  return Object.freeze({ text: checked.text, payload, succeeded });
}

function certFile(value: string): string {
  if (!isCertFile(value)) throw new InvalidCommandArgument("certificate file", value, `${CERT_PATH_RULE}, not ending in ${CERT_FILE_REFUSED_ENDINGS.join(", ")}`);
  return value;
}

function certPath(argument: string, value: string): string {
  if (!isCertPath(value)) throw new InvalidCommandArgument(argument, value, CERT_PATH_RULE);
  return value;
}

/** The PEM without its final newline: the payload's last line is its END line. */
function pemPayload(value: string): string {
  const problem = pemPayloadProblem(value);
  if (problem !== undefined) throw new InvalidCommandArgument("certificate payload", HIDDEN, `PEM blocks of CERTIFICATE and one (RSA |EC )?PRIVATE KEY: ${problem}`);
  return value.endsWith("\n") ? value.slice(0, -1) : value;
}

const exactly =
  (expected: string) =>
  (output: string): boolean =>
    output.trim() === expected;

/**
 * The reply of `commit ssl cert` and `add ssl crt-list` (same on 2.6, 3.0
 * and 3.2): a first line (`Committing <file>` / `Inserting certificate
 * '<file>' in crt-list '<list>'`, then one dot per rebuilt instance), maybe
 * warnings, and `Success!` as the last line; a failure ends in `Failed!`
 * or is an error message alone.
 */
const firstLineThenSuccess =
  (firstLine: string) =>
  (output: string): boolean => {
    const lines = output.trim().split("\n");
    const first = lines[0] ?? "";
    return lines.length >= 2 && first.startsWith(firstLine) && /^\.*$/.test(first.slice(firstLine.length)) && lines[lines.length - 1] === "Success!";
  };

export const commands = {
  setServerAddr(backend: string, serverName: string, address: string, port: number): RuntimeCommand {
    // 2.6 always starts with the address part ("IP changed from ..." or "no
    // need to change the addr, ..."); 3.0 and later leave out what did not
    // change: "port changed from '81' to '82' ..." or just "nothing changed".
    return command(
      `set server ${server(backend, serverName)} addr ${ipLiteral(address)} port ${integer("port", port, PORT)}`,
      startsWith("IP changed from", "no need to change the addr", "port changed from", "nothing changed"),
    );
  },
  setServerState(backend: string, serverName: string, state: ServerAdminState): RuntimeCommand {
    return command(`set server ${server(backend, serverName)} state ${word("state", state, ["ready", "drain", "maint"])}`, silent);
  },
  setServerHealth(backend: string, serverName: string, health: ServerHealth): RuntimeCommand {
    return command(`set server ${server(backend, serverName)} health ${word("health", health, ["up", "stopping", "down"])}`, silent);
  },
  setServerWeight(backend: string, serverName: string, weight: number): RuntimeCommand {
    return command(`set server ${server(backend, serverName)} weight ${integer("weight", weight, WEIGHT)}`, silent);
  },
  setServerMaxconn(backend: string, serverName: string, maxconn: number): RuntimeCommand {
    return command(`set maxconn server ${server(backend, serverName)} ${integer("maxconn", maxconn, MAXCONN)}`, silent);
  },
  addServer(backend: string, serverName: string, address: string, port: number, keywords: readonly string[]): RuntimeCommand {
    const ip = ipLiteral(address);
    const target = ip.includes(":") ? `[${ip}]:${integer("port", port, PORT)}` : `${ip}:${integer("port", port, PORT)}`;
    for (const keyword of keywords) {
      if (!isKeyword(keyword)) throw new InvalidCommandArgument("keyword", keyword, `a server keyword or value (${KEYWORD_RULE})`);
    }
    return command(`add server ${server(backend, serverName)} ${[target, ...keywords].join(" ")}`, startsWith("New server registered"));
  },
  delServer(backend: string, serverName: string): RuntimeCommand {
    return command(`del server ${server(backend, serverName)}`, startsWith("Server deleted"));
  },
  enableServer(backend: string, serverName: string): RuntimeCommand {
    return command(`enable server ${server(backend, serverName)}`, silent);
  },
  enableHealth(backend: string, serverName: string): RuntimeCommand {
    return command(`enable health ${server(backend, serverName)}`, silent);
  },
  /** Servers only (type 4) of one backend, or every proxy. */
  showStat(backend?: string): RuntimeCommand {
    return command(backend === undefined ? "show stat" : `show stat ${name("backend", backend)} 4 -1`, startsWith("# pxname"));
  },
  /** One server's row by its id (`srv_id` of `show servers state`): a cheap look at one slot. */
  showServerStat(backend: string, serverId: number): RuntimeCommand {
    return command(`show stat ${name("backend", backend)} 4 ${integer("server id", serverId, SERVER_ID)}`, startsWith("# pxname"));
  },
  showServersState(backend?: string): RuntimeCommand {
    return command(backend === undefined ? "show servers state" : `show servers state ${name("backend", backend)}`, (output) => /^\d+\n#/.test(output.trimStart()));
  },
  showInfo(): RuntimeCommand {
    return command("show info", startsWith("Name:"));
  },
  /** The connection's level: `admin`, `operator` or `user` (HAProxy 2.0 and later). */
  showCliLevel(): RuntimeCommand {
    return command("show cli level", (output) => ["admin", "operator", "user"].includes(output.trim()));
  },
  /** A new, empty version of a map (HAProxy answers `New version created: <n>`); the running one serves until commit. */
  prepareMap(file: string): RuntimeCommand {
    return command(`prepare map ${mapFile(file)}`, startsWith("New version created:"));
  },
  /** One entry into a prepared version; entries of a map_beg/map_str list match in the order they were added. */
  addMapEntry(version: number, file: string, key: string, value: string): RuntimeCommand {
    if (!MAP_KEY.test(key)) throw new InvalidCommandArgument("map key", key, "a host and path prefix of letters, digits and . _ ~ / - (at most 512)");
    return command(`add map @${integer("map version", version, MAP_VERSION)} ${mapFile(file)} ${key} ${name("map value", value)}`, silent);
  },
  /** The prepared version replaces the running one at once. */
  commitMap(version: number, file: string): RuntimeCommand {
    return command(`commit map @${integer("map version", version, MAP_VERSION)} ${mapFile(file)}`, silent);
  },
  /**
   * An empty certificate store named `file`, for a certificate no bind has
   * yet: `setSslCert` and `commitSslCert` fill it, `addSslCrtList` serves it.
   * Nothing is written to disk.
   */
  newSslCert(file: string): RuntimeCommand {
    const path = certFile(file);
    return command(`new ssl cert ${path}`, exactly(`New empty certificate store '${path}'!`));
  },
  /**
   * Opens (or updates) the one certificate transaction HAProxy has: `pem`
   * (the certificate, its chain and its key) replaces the store `file` once
   * committed. A second file's transaction is refused until this one is
   * committed or aborted. HAProxy checks that the key matches the
   * certificate only at the commit.
   */
  setSslCert(file: string, pem: string): RuntimeCommand {
    const path = certFile(file);
    const created = `Transaction created for certificate ${path}!`;
    const updated = `Transaction updated for certificate ${path}!`;
    return payloadCommand(`set ssl cert ${path}`, pemPayload(pem), (output) => [created, updated].includes(output.trim()));
  },
  /** New handshakes get the transaction's certificate; connections already open keep theirs. */
  commitSslCert(file: string): RuntimeCommand {
    const path = certFile(file);
    return command(`commit ssl cert ${path}`, firstLineThenSuccess(`Committing ${path}`));
  },
  /** Drops the open transaction of `file`; what is served does not change. */
  abortSslCert(file: string): RuntimeCommand {
    const path = certFile(file);
    return command(`abort ssl cert ${path}`, exactly(`Transaction aborted for certificate '${path}'!`));
  },
  /**
   * Serves the committed store `file` on every bind that uses `crtList`: a
   * crt-list file, or the directory of a `crt <directory>` (an implicit
   * crt-list; `file` must then be `<directory>/<name>`). Its SNI names come
   * from the certificate.
   */
  addSslCrtList(crtList: string, file: string): RuntimeCommand {
    const list = certPath("crt-list", crtList);
    const path = certFile(file);
    return command(`add ssl crt-list ${list} ${path}`, firstLineThenSuccess(`Inserting certificate '${path}' in crt-list '${list}'`));
  },
  /** Without a file: the stores HAProxy holds, and the open transaction. With one: its certificate (`parseShowSslCert`). */
  showSslCert(file?: string): RuntimeCommand {
    if (file === undefined) return command("show ssl cert", (output) => /^# (?:transaction|filename)\n/.test(output.trimStart()));
    const path = certFile(file);
    return command(`show ssl cert ${path}`, startsWith(`Filename: ${path}\n`));
  },
  /** The open transaction's certificate for `file`, before it is committed. */
  showSslCertTransaction(file: string): RuntimeCommand {
    const path = certFile(file);
    return command(`show ssl cert *${path}`, startsWith(`Filename: *${path}\n`));
  },
};

/** A map as the configuration names it: an absolute path of safe characters (the portmap's map files). */
function mapFile(file: string): string {
  if (!/^\/[A-Za-z0-9@._/-]{1,4095}$/.test(file)) throw new InvalidCommandArgument("map file", file, "an absolute path of letters, digits and @ . _ / -");
  return file;
}

/** A portmap route key: `<host><path>` or `<path>` (the portmap parser's whitelists), never a space or a separator. */
const MAP_KEY = /^[A-Za-z0-9._~/-]{1,512}$/;
const MAP_VERSION: WholeNumberRange = { min: 0, max: 2 ** 32 - 1 };
