// Small real HTTP(S) servers that stand in for nodes: they answer with their
// name, count hits, and can be told to fail their health endpoint, or to
// leave it unanswered (a check that hangs until HAProxy's `timeout check`).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { AddressInfo } from "node:net";

export interface TestNode {
  name: string;
  address: string;
  port: number;
  hits: number;
  /** "hang": /health never answers (the request is held until the node stops). */
  setHealthy(healthy: boolean | "hang"): void;
  stop(): Promise<void>;
}

export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl. */
export function makeTestCa(): TlsMaterial {
  const directory = mkdtempSync(join(tmpdir(), "cht-ca-"));
  const path = (name: string) => join(directory, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=consul-haproxy-handler test CA", "-keyout", path("ca.key"), "-out", path("ca.pem"));
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", path("node.key"), "-out", path("node.csr"));
  writeFileSync(path("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  openssl("x509", "-req", "-in", path("node.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", path("ext.cnf"), "-out", path("node.pem"));
  return { caFile: path("ca.pem"), certFile: path("node.pem"), keyFile: path("node.key") };
}

/**
 * Another certificate from a CA made by makeTestCa: a server certificate for
 * the given subjectAltNames (e.g. "DNS:consul.test") or a client certificate
 * (mTLS), both with the key usages Go's TLS stack checks.
 */
export function issueCertificate(ca: TlsMaterial, name: string, options: { altNames?: string[]; client?: boolean } = {}): TlsMaterial {
  const directory = mkdtempSync(join(tmpdir(), "cht-cert-"));
  const path = (file: string) => join(directory, file);
  const caDirectory = dirname(ca.caFile);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", path("key.pem"), "-out", path("cert.csr"));
  const extensions = ["basicConstraints=CA:FALSE", `extendedKeyUsage=${options.client ? "clientAuth" : "serverAuth,clientAuth"}`];
  if (options.altNames && options.altNames.length > 0) extensions.push(`subjectAltName=${options.altNames.join(",")}`);
  writeFileSync(path("ext.cnf"), `${extensions.join("\n")}\n`);
  openssl("x509", "-req", "-in", path("cert.csr"), "-CA", ca.caFile, "-CAkey", join(caDirectory, "ca.key"), "-CAserial", join(caDirectory, "ca.srl"), "-CAcreateserial", "-days", "2", "-extfile", path("ext.cnf"), "-out", path("cert.pem"));
  return { caFile: ca.caFile, certFile: path("cert.pem"), keyFile: path("key.pem") };
}

/** A self-signed certificate no CA vouches for (for sslverify off). */
export function makeSelfSigned(): TlsMaterial {
  const directory = mkdtempSync(join(tmpdir(), "cht-self-"));
  const path = (name: string) => join(directory, name);
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=self-signed", "-keyout", path("key.pem"), "-out", path("cert.pem")], { stdio: "pipe" });
  return { caFile: path("cert.pem"), certFile: path("cert.pem"), keyFile: path("key.pem") };
}

/** `version`: the node answers with it too, so a test sees which generation served a request. */
export async function startNode(name: string, options: { tls?: TlsMaterial; address?: string; version?: string } = {}): Promise<TestNode> {
  let healthy: boolean | "hang" = true;
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    if (request.url === "/health") {
      if (healthy === "hang") return;
      response.writeHead(healthy ? 200 : 503, { "content-type": "text/plain" });
      response.end(healthy ? "ok" : "unhealthy");
      return;
    }
    node.hits += 1;
    // Drain the body so keep-alive connections stay usable.
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(options.version === undefined ? { node: name } : { node: name, version: options.version }));
    });
  };
  const server: Server = options.tls ? createHttpsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, handle) : createHttpServer(handle);
  const node: TestNode = {
    name,
    address: options.address ?? "127.0.0.1",
    port: 0,
    hits: 0,
    setHealthy(value) {
      healthy = value;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, node.address, () => resolve()));
  node.port = (server.address() as AddressInfo).port;
  return node;
}
