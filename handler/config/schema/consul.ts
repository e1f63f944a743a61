import { CONSUL_ADDRESS_FORMS, normaliseConsulAddress } from "../consul-address.js";
import type { ConsulConfig } from "../types.js";
import { boolean, describe, integer, text, type Table } from "./field.js";

/** A Consul service name (also the ACL canary's). */
export const CONSUL_SERVICE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/** consul.* — the connection keys' defaults come from CONSUL_* variables (source/consul-connection.ts resolves them). */
export const consulTable: Table<ConsulConfig> = {
  address: text({ doc: "Consul's address forms: host:port, http://…, https://… or unix:///path.", defaultText: "CONSUL_HTTP_ADDR, else http://127.0.0.1:8500", hint: CONSUL_ADDRESS_FORMS, valid: (address) => normaliseConsulAddress(address) !== undefined }),
  token: text({ doc: "The ACL token itself (prefer tokenFile: a config file is easily shown).", defaultText: "CONSUL_HTTP_TOKEN", hint: "the ACL token" }),
  tokenFile: text({ doc: "A file holding the ACL token.", defaultText: "CONSUL_HTTP_TOKEN_FILE", hint: "a file path" }),
  caFile: text({ doc: "PEM CA file for an https address.", defaultText: "CONSUL_CACERT, else the system's CAs", hint: "a file path" }),
  caPath: text({ doc: "Directory of PEM CA files (caFile wins).", defaultText: "CONSUL_CAPATH", hint: "a file path" }),
  clientCert: text({ doc: "Client certificate for Consul's verify_incoming (mTLS).", defaultText: "CONSUL_CLIENT_CERT", hint: "a file path" }),
  clientKey: text({ doc: "The client certificate's key.", defaultText: "CONSUL_CLIENT_KEY", hint: "a file path" }),
  sslVerify: boolean({ doc: "Verify Consul's certificate.", defaultText: "CONSUL_HTTP_SSL_VERIFY, else true" }),
  tlsServerName: text({ doc: "Name to send (SNI) and to verify Consul's certificate against.", defaultText: "CONSUL_TLS_SERVER_NAME, else the address's host", valid: /^[A-Za-z0-9.-]{1,253}$/, hint: "a host name, e.g. consul.example.com" }),
  datacenter: text({ doc: "The datacenter to read (`?dc=`).", defaultText: "the agent's", valid: /^[A-Za-z0-9_-]+$/, hint: "a datacenter name" }),
  timeoutMs: integer(100, 600_000, { doc: "How long a read may take; above Consul's 7 s hold of a read while it has no leader, so a missing leader is reported as `no-leader`, not as a timeout.", default: 10_000 }),
  aclCanaryService: {
    doc: "A service every cluster has; an empty answer is only believed while this one is visible. \"\" disables.",
    default: "consul",
    nullIsValue: true,
    check: (value, path, problems) => {
      if (typeof value === "string" && (value === "" || CONSUL_SERVICE_NAME.test(value))) return value;
      problems.push(`${path}: expected a Consul service name or "", got ${describe(value)}`);
      return undefined;
    },
  },
  blockingWaitSeconds: integer(1, 600, { doc: "`wait` of `run`'s blocking queries; a read is abandoned after wait + wait/16 + timeoutMs.", default: 60 }),
};

export function checkConsul(consul: ConsulConfig, path: string, problems: string[]): void {
  if (consul.token !== undefined && consul.tokenFile !== undefined) problems.push(`${path}.token and ${path}.tokenFile: set one, not both`);
}
