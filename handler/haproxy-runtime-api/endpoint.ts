// Where the admin socket is: `host:port` (IPv4, `[IPv6]:port` or a name) or a
// unix socket path (anything starting with `/` or `./`).
import type { NetConnectOpts } from "node:net";
import { isWithin, PORT } from "./limits.js";

export type RuntimeEndpoint = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

export function parseEndpoint(text: string): RuntimeEndpoint {
  if (text.startsWith("/") || text.startsWith("./")) return { kind: "unix", path: text };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.replace(/^(tcp4?|ipv4|ipv6)@/, ""));
  const port = Number(match?.[3]);
  if (!match || !isWithin(port, PORT)) {
    throw new Error(`the HAProxy admin socket ${JSON.stringify(text)} is neither host:port (127.0.0.1:9999) nor a unix socket path (/run/haproxy/admin.sock)`);
  }
  return { kind: "tcp", host: match[1] ?? match[2] ?? "", port };
}

export function connectOptions(endpoint: RuntimeEndpoint): NetConnectOpts {
  return endpoint.kind === "unix" ? { path: endpoint.path } : { host: endpoint.host, port: endpoint.port };
}

export function describeEndpoint(endpoint: RuntimeEndpoint): string {
  return endpoint.kind === "unix" ? endpoint.path : `${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}
