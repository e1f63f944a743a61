// How to reach Consul: the address, the ACL token and the TLS material, from
// the config file's `consul.*` keys and Consul's own CONSUL_* environment
// variables (the ones its CLI and Go API client honour, with the same
// meaning). Precedence, per setting: the config file, then the environment,
// then the default. The config file is the explicit, reviewed setting (the
// handler's equivalent of a flag on Consul's CLI, which also beats the
// environment); the environment fills in what the file leaves out.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createConnection } from "node:net";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { ConfigError, normaliseConsulAddress, type ConsulConfig } from "../config/config.js";

/** Where a setting's value came from: a config key, an environment variable, or the default. */
export type SettingOrigin = { kind: "config"; key: string } | { kind: "environment"; variable: string } | { kind: "default" };

export interface Setting<T> {
  value: T;
  origin: SettingOrigin;
}

export interface ConsulConnection {
  /** Normalised: http://host:port, https://host:port or unix:///path. */
  address: Setting<string>;
  /** Where the token comes from; the token itself is read by readConsulToken and never shown. */
  token: Setting<{ inline: string } | { file: string } | undefined>;
  caFile: Setting<string | undefined>;
  caPath: Setting<string | undefined>;
  clientCert: Setting<string | undefined>;
  clientKey: Setting<string | undefined>;
  sslVerify: Setting<boolean>;
  tlsServerName: Setting<string | undefined>;
}

export const DEFAULT_CONSUL_ADDRESS = "http://127.0.0.1:8500";

/** Go's strconv.ParseBool, which Consul uses for CONSUL_HTTP_SSL and CONSUL_HTTP_SSL_VERIFY. */
function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

const ADDRESS_HINT = "host:port, http://host:port, https://host:port or unix:///path/to/socket";

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Resolves every connection setting with its origin. Throws ConfigError
 * (exit 2) for an environment value that cannot be used, so a typo in
 * CONSUL_HTTP_SSL_VERIFY never silently turns verification off.
 */
export function resolveConsulConnection(config: ConsulConfig, environment: Environment = process.env): ConsulConnection {
  const problems: string[] = [];
  const variable = (name: string): string | undefined => {
    const value = environment[name];
    return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
  };
  const fromConfig = <T>(key: string, value: T): Setting<T> => ({ value, origin: { kind: "config", key: `consul.${key}` } });
  const fromEnvironment = <T>(name: string, value: T): Setting<T> => ({ value, origin: { kind: "environment", variable: name } });
  const byDefault = <T>(value: T): Setting<T> => ({ value, origin: { kind: "default" } });

  const goBool = (name: string): boolean | undefined => {
    const text = variable(name);
    if (text === undefined) return undefined;
    const parsed = parseGoBool(text);
    if (parsed === undefined) problems.push(`${name}=${JSON.stringify(text)}: expected true or false (or 1/0, t/f)`);
    return parsed;
  };

  const sslFromEnvironment = goBool("CONSUL_HTTP_SSL");
  let address: Setting<string> = byDefault(sslFromEnvironment ? "https://127.0.0.1:8500" : DEFAULT_CONSUL_ADDRESS);
  if (config.address !== undefined) {
    // Validated by the config reader already.
    address = fromConfig("address", normaliseConsulAddress(config.address, sslFromEnvironment ? "https" : "http") ?? config.address);
  } else {
    const text = variable("CONSUL_HTTP_ADDR");
    if (text !== undefined) {
      const normalised = normaliseConsulAddress(text, sslFromEnvironment ? "https" : "http");
      if (normalised === undefined) problems.push(`CONSUL_HTTP_ADDR=${JSON.stringify(text)}: expected ${ADDRESS_HINT}`);
      else address = fromEnvironment("CONSUL_HTTP_ADDR", normalised);
    }
  }

  // Consul's API client: the token file wins over the token when both are set.
  let token: ConsulConnection["token"] = byDefault(undefined);
  if (config.token !== undefined) token = fromConfig("token", { inline: config.token });
  else if (config.tokenFile !== undefined) token = fromConfig("tokenFile", { file: config.tokenFile });
  else if (variable("CONSUL_HTTP_TOKEN_FILE") !== undefined) token = fromEnvironment("CONSUL_HTTP_TOKEN_FILE", { file: variable("CONSUL_HTTP_TOKEN_FILE") ?? "" });
  else if (variable("CONSUL_HTTP_TOKEN") !== undefined) token = fromEnvironment("CONSUL_HTTP_TOKEN", { inline: variable("CONSUL_HTTP_TOKEN") ?? "" });

  const path = (key: "caFile" | "caPath" | "clientCert" | "clientKey" | "tlsServerName", name: string): Setting<string | undefined> => {
    const configured = config[key];
    if (configured !== undefined) return fromConfig(key, configured);
    const text = variable(name);
    return text !== undefined ? fromEnvironment(name, text) : byDefault(undefined);
  };

  let sslVerify: Setting<boolean> = byDefault(true);
  if (config.sslVerify !== undefined) sslVerify = fromConfig("sslVerify", config.sslVerify);
  else {
    const verify = goBool("CONSUL_HTTP_SSL_VERIFY");
    if (verify !== undefined) sslVerify = fromEnvironment("CONSUL_HTTP_SSL_VERIFY", verify);
  }

  const connection: ConsulConnection = {
    address,
    token,
    caFile: path("caFile", "CONSUL_CACERT"),
    caPath: path("caPath", "CONSUL_CAPATH"),
    clientCert: path("clientCert", "CONSUL_CLIENT_CERT"),
    clientKey: path("clientKey", "CONSUL_CLIENT_KEY"),
    sslVerify,
    tlsServerName: path("tlsServerName", "CONSUL_TLS_SERVER_NAME"),
  };
  if ((connection.clientCert.value === undefined) !== (connection.clientKey.value === undefined)) {
    problems.push(
      `a client certificate needs its key and the key its certificate: got only ${connection.clientCert.value !== undefined ? `the certificate (${describeOrigin(connection.clientCert.origin)})` : `the key (${describeOrigin(connection.clientKey.origin)})`}; set both consul.clientCert and consul.clientKey (or CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY)`,
    );
  }
  if (problems.length > 0) throw new ConfigError("the environment", problems);
  return connection;
}

export function describeOrigin(origin: SettingOrigin): string {
  switch (origin.kind) {
    case "config":
      return origin.key;
    case "environment":
      return origin.variable;
    case "default":
      return "default";
  }
}

/** What check-config prints for each setting: the value (never the token) and where it came from. */
export function describeConnection(connection: ConsulConnection): { key: string; value: string; origin: string }[] {
  const token = connection.token.value;
  const rows = [
    { key: "address", value: connection.address.value, origin: describeOrigin(connection.address.origin) },
    {
      key: "token",
      value: token === undefined ? "none (anonymous)" : "file" in token ? `read from ${token.file}` : "set (not shown)",
      origin: describeOrigin(connection.token.origin),
    },
  ];
  const secure = connection.address.value.startsWith("https://");
  const tls: [string, Setting<string | undefined> | Setting<boolean>][] = [
    ["caFile", connection.caFile],
    ["caPath", connection.caPath],
    ["clientCert", connection.clientCert],
    ["clientKey", connection.clientKey],
    ["sslVerify", connection.sslVerify],
    ["tlsServerName", connection.tlsServerName],
  ];
  for (const [key, setting] of tls) {
    if (setting.value === undefined && setting.origin.kind === "default") continue;
    if (!secure && setting.origin.kind === "default") continue;
    rows.push({ key, value: `${String(setting.value)}${secure ? "" : " (unused: the address is not https)"}`, origin: describeOrigin(setting.origin) });
  }
  return rows;
}

/** Reads the ACL token. Never logged. Throws an Error that names the file and what to check. */
export function readConsulToken(connection: ConsulConnection): string | undefined {
  const token = connection.token.value;
  if (token === undefined) return undefined;
  if ("inline" in token) return token.inline;
  const where = describeOrigin(connection.token.origin);
  let text: string;
  try {
    text = readFileSync(token.file, "utf8").trim();
  } catch (error) {
    throw new Error(`cannot read the Consul token file ${token.file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check ${where} and the file's permissions`);
  }
  if (text === "") throw new Error(`the Consul token file ${token.file} (${where}) is empty`);
  return text;
}

export interface TlsOptions {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

function readPem(file: string, what: string, origin: SettingOrigin): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read the ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check ${describeOrigin(origin)}`);
  }
}

/**
 * The TLS options for an https:// address. As in Consul's client, a CA file
 * wins over a CA directory, and either replaces the system's CAs.
 */
export function tlsOptions(connection: ConsulConnection): TlsOptions {
  const options: TlsOptions = { rejectUnauthorized: connection.sslVerify.value };
  if (connection.caFile.value !== undefined) {
    options.ca = [readPem(connection.caFile.value, "CA file", connection.caFile.origin)];
  } else if (connection.caPath.value !== undefined) {
    const directory = connection.caPath.value;
    let names: string[];
    try {
      names = readdirSync(directory);
    } catch (error) {
      throw new Error(`cannot read the CA directory ${directory} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check ${describeOrigin(connection.caPath.origin)}`);
    }
    options.ca = names
      .map((name) => join(directory, name))
      .filter((file) => statSync(file, { throwIfNoEntry: false })?.isFile() === true)
      .map((file) => readPem(file, "CA certificate", connection.caPath.origin));
    if (options.ca.length === 0) throw new Error(`the CA directory ${directory} holds no certificate files; check ${describeOrigin(connection.caPath.origin)}`);
  }
  if (connection.clientCert.value !== undefined && connection.clientKey.value !== undefined) {
    options.cert = readPem(connection.clientCert.value, "client certificate", connection.clientCert.origin);
    options.key = readPem(connection.clientKey.value, "client key", connection.clientKey.origin);
  }
  if (connection.tlsServerName.value !== undefined) options.servername = connection.tlsServerName.value;
  return options;
}

/** How to send requests to the resolved address: the base URL to build request URLs on, and the agent that carries them. */
export interface ConsulTransport {
  /** http://host:port or https://host:port; http://localhost for a unix socket (the agent dials the socket). */
  baseUrl: URL;
  agent: HttpAgent | HttpsAgent;
}

/**
 * One keep-alive agent for the resolved address, with the TLS material for an
 * https:// address and a socket dialer for unix:///path. Throws an Error that
 * names the unreadable file.
 */
export function consulTransport(connection: ConsulConnection): ConsulTransport {
  const address = connection.address.value;
  if (address.startsWith("unix://")) {
    const path = address.slice("unix://".length);
    const agent = new HttpAgent({ keepAlive: true });
    // Every connection of this agent goes to the socket, whatever the URL's host.
    (agent as unknown as { createConnection: () => ReturnType<typeof createConnection> }).createConnection = () => createConnection(path);
    return { baseUrl: new URL("http://localhost"), agent };
  }
  const baseUrl = new URL(address);
  const agent = baseUrl.protocol === "https:" ? new HttpsAgent({ keepAlive: true, ...tlsOptions(connection) }) : new HttpAgent({ keepAlive: true });
  return { baseUrl, agent };
}
