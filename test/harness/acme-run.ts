// What the `run`-with-ACME tests share (test/integration/certificates/run-*):
// pebble, a real Consul and a master-worker HAProxy on free loopback ports, a
// handler config with lb.render whose portmap folder the test fills, the
// backend's node registered, and what the tests look at: the certificate a
// TLS handshake gets, a file's mode, the handler's metrics.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startConsul, type ConsulAgent } from "./consul.js";
import { masterWorkerFiles, masterWorkerSections, renderingHandlerConfig, startMasterWorker, type MasterWorkerHaproxy } from "./haproxy-master.js";
import { freePort } from "./ports.js";
import { writeHandlerConfig } from "./cli.js";
import { startNodeProcess } from "./load.js";
import { startPebble, type Pebble, type PebbleOptions } from "./pebble.js";

export interface Served {
  /** The issuer's and the subject's CN (the same for the self-signed placeholder). */
  issuer: string;
  subject: string;
  names: string;
  fingerprint: string;
  serialNumber: string;
  validFrom: string;
  validTo: string;
}

/** The certificate a TLS handshake with this SNI gets, or undefined (no listener yet). */
export function servedCertificate(port: number, servername: string): Promise<Served | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve({
        issuer: String(certificate.issuer?.CN ?? ""),
        subject: String(certificate.subject?.CN ?? ""),
        names: String(certificate.subjectaltname ?? ""),
        fingerprint: certificate.fingerprint256,
        serialNumber: certificate.serialNumber,
        validFrom: certificate.valid_from,
        validTo: certificate.valid_to,
      });
    });
    socket.on("error", () => resolve(undefined));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

/** Whether a handshake with this SNI verifies against `caPem` alone (the chain served up to it, the name, the dates): "verified", or why not. */
export function verifyServed(port: number, servername: string, caPem: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername, ca: caPem, rejectUnauthorized: true }, () => {
      socket.end();
      resolve("verified");
    });
    socket.on("error", (error) => resolve(error.message));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve("timed out");
    });
  });
}

/** A file's permission bits, in octal ("600"). */
export const fileMode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

/** The handler's log lines about certificates, orders and renderings (what a failed wait needs to be understood). */
export function certificateLines(logs: string): string {
  return logs
    .split("\n")
    .filter((line) => /certificate|acme|challenge|order|reload|render/i.test(line))
    .slice(-40)
    .join("\n");
}

/** `work`, or its error with the handler's certificate lines added: a wait that times out says what the handler did. */
export async function withHandlerLines<T>(logs: () => string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new Error(`${(error as Error).message}\nthe handler's certificate lines:\n${certificateLines(logs())}`);
  }
}

export interface AcmeRunSetup {
  /** The portmap's KV folder (lb.kvPrefix), ending in "/". */
  folder: string;
  /** Pebble's options besides the HTTP-01 port (a blocklist, short lifetimes). */
  pebble?: Omit<PebbleOptions, "httpPort">;
  /** lb keys over the setup's own (e.g. certificateCheckSeconds). */
  lb?: Record<string, unknown>;
}

export interface AcmeRun {
  consul: ConsulAgent;
  pebble: Pebble;
  haproxy: MasterWorkerHaproxy;
  /** HAProxy's admin socket, its http listener (pebble's HTTP-01 port), its https listener, and run.listen's port. */
  ports: { admin: number; http: number; tls: number; handler: number };
  certDirectory: string;
  certificateStateDirectory: string;
  /** The handler's configuration as written to configFile. */
  handlerConfig: Record<string, unknown>;
  configFile: string;
  /** PUTs `value` at `key` of the portmap's folder. */
  put(key: string, value: string): Promise<void>;
  /** The acme_* keys for pebble, then certificate_name, then a portmap of an http and an https-http listener of the service web; resolves with when the portmap's PUT began (Date.now()). */
  putPortmap(certificateNames: string): Promise<number>;
  /** The handler's /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startAcmeRun(setup: AcmeRunSetup): Promise<AcmeRun> {
  const { folder } = setup;
  const directory = mkdtempSync(join(tmpdir(), "cht-run-acme-"));
  const consul = await startConsul();
  const ports = { admin: await freePort(), http: await freePort(), tls: await freePort(), handler: await freePort() };
  // pebble validates http://<name>:<http>/.well-known/acme-challenge/<token>: HAProxy's http listener.
  const pebble = await startPebble({ ...setup.pebble, httpPort: ports.http });
  const files = masterWorkerFiles(directory);
  const { stateFile, mainFile, portmapFile, masterSocket } = files;
  const certDirectory = join(directory, "certs");
  const certificateStateDirectory = join(directory, "certificate-state");
  mkdirSync(certDirectory);
  writeFileSync(mainFile, `${masterWorkerSections({ adminPort: ports.admin, stateFile, timeouts: { connect: "1s", clientAndServer: "10s" } })}\nbackend main_back\n    server-template srv 1-2 0.0.0.0:80 check disabled init-addr none\n`);
  writeFileSync(portmapFile, "");
  const haproxy = await startMasterWorker({ configFiles: [mainFile, portmapFile], masterSocket, adminAddress: `127.0.0.1:${ports.admin}`, stateFile });
  const handlerConfig = renderingHandlerConfig({
    ...files,
    consulAddress: consul.address,
    adminPort: ports.admin,
    listen: `127.0.0.1:${ports.handler}`,
    folder,
    lb: { certDirectory, certificateStateDirectory, ...setup.lb },
  });
  const configFile = writeHandlerConfig(handlerConfig);
  const node = await startNodeProcess("web-1");
  await consul.register({ ID: "web-1", Name: "web", Address: node.address, Port: node.port, Check: { CheckID: "ttl-web-1", TTL: "1h", Status: "passing" } });
  const put = async (key: string, value: string): Promise<void> => assert.equal((await fetch(`${consul.address}/v1/kv/${folder}${key}`, { method: "PUT", body: value })).status, 200);
  return {
    consul,
    pebble,
    haproxy,
    ports,
    certDirectory,
    certificateStateDirectory,
    handlerConfig,
    configFile,
    put,
    async putPortmap(certificateNames) {
      await put("acme_directory", pebble.directoryUrl);
      await put("acme_ca_file", pebble.caFile);
      await put("acme_email", "ops@example.org");
      await put("certificate_name", certificateNames);
      const putAt = Date.now();
      await put("portmap", `http://${ports.http}:web https-http://${ports.tls}:web`);
      return putAt;
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${ports.handler}/metrics`)).text(),
    async stop() {
      await haproxy.stop();
      await pebble.stop();
      await consul.cleanup();
    },
  };
}
