import { PORT } from "../../haproxy-runtime-api/index.js";
import type { RunConfig } from "../types.js";
import { boolean, integer, text, type Table } from "./field.js";

export const runTable: Table<RunConfig> = {
  listen: text({ doc: "`host:port` for /healthz, /metrics and POST /watch.", defaultText: "no listener", valid: /^(\[[0-9a-fA-F:]+\]|[0-9.]+|localhost):\d{1,5}$/, hint: "host:port, e.g. 127.0.0.1:9701" }),
  resyncSeconds: integer(1, 86_400, { doc: "`run` reads everything this often, besides the watches.", default: 60 }),
  allowNonLoopback: boolean({ doc: "run.listen may name a non-loopback address only when this is true.", default: false }),
};

export function checkRun(run: RunConfig, path: string, problems: string[]): void {
  const listen = run.listen;
  if (listen === undefined) return;
  // Port 0 asks the kernel for a free port (the listener logs the one it got).
  const port = Number(listen.slice(listen.lastIndexOf(":") + 1));
  if (port > PORT.max) problems.push(`${path}.listen: port ${port} in ${JSON.stringify(listen)} is above ${PORT.max}; use a port from 1 to ${PORT.max} (or 0 for any free one)`);
  if (!run.allowNonLoopback && !isLoopbackListen(listen)) {
    problems.push(
      `${path}.listen: ${JSON.stringify(listen)} is not a loopback address; /healthz, /metrics and POST /watch have no authentication, so anyone who reaches the port can read the metrics and trigger reconciles. ` +
        `Use 127.0.0.1:<port> (or [::1]:<port>), or set ${path}.allowNonLoopback: true and firewall the port`,
    );
  }
}

/** Whether `host:port` binds loopback only: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1") return true;
  const octets = host.split(".");
  return octets.length === 4 && octets[0] === "127" && octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255);
}
