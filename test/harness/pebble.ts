// Debian's pebble (the ACME test server) on loopback with free ports, for the
// certificate tests. Debian's package ships neither pebble's test certificate
// nor a way to resolve test names, so:
//   - its directory is served under a CA made here (tiny-ca.ts): the client
//     trusts it through acme_ca_file, as it would a private CA;
//   - pebble-challtestsrv (same package) is its DNS server (-dnsserver): every
//     name has the A record 127.0.0.1 and no AAAA, so pebble's HTTP-01
//     validation of a.test reaches the test's responder on `httpPort`.
// PEBBLE_VA_NOSLEEP=1 skips pebble's random validation delays; authorizations
// are never reused (PEBBLE_AUTHZREUSE=0), so every order is validated anew;
// no nonce is refused on purpose (PEBBLE_WFE_NONCEREJECT=0). Challenges are
// really validated: PEBBLE_VA_ALWAYS_VALID stays unset.
import { spawn, type ChildProcess } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { writeFileSync } from "node:fs";
import { get } from "node:https";
import { join } from "node:path";
import { eventually } from "./eventually.js";
import { freePorts } from "./ports.js";
import { makeTinyCa } from "./tiny-ca.js";

export interface PebbleOptions {
  /** The port pebble's HTTP-01 validation connects to (the test's responder). */
  httpPort: number;
  /** Names pebble refuses to issue for (its domainBlocklist): a CA's refusal on demand. */
  blocklist?: readonly string[];
  /** Lifetime of the certificates pebble issues, in seconds (default: pebble's five years). */
  validitySeconds?: number;
  /** The address pebble's directory listens on (default 127.0.0.1); its TLS certificate names it. */
  listenHost?: string;
  /** The address every name resolves to for HTTP-01 (default 127.0.0.1): where the load balancer is. */
  answerIPv4?: string;
}

export interface Pebble {
  directoryUrl: string;
  /** The CA that signs the directory's TLS certificate (acme_ca_file). */
  caFile: string;
  /** The command lines pebble and its DNS were started with, for the report. */
  commands: string[];
  configFile: string;
  /** Pebble's root CA (a new one at each start), from its management interface. */
  rootPem(): Promise<string>;
  /** What pebble logged (its validations, its refusals). */
  log(): string;
  stop(): Promise<void>;
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca, timeout: 5000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", reject);
  });
}

function started(command: string, args: string[], env: NodeJS.ProcessEnv, output: string[]): ChildProcess {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
  child.on("error", (error) => output.push(`${command}: ${error.message} (is Debian's pebble package installed? scripts/install-deps.sh)\n`));
  return child;
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const ca = makeTinyCa("Pebble Listener Test CA");
  const listenHost = options.listenHost ?? "127.0.0.1";
  const listener = ca.issue([...new Set(["localhost", "127.0.0.1", listenHost])]);
  const [acmePort, managementPort, tlsPort, dnsPort, dnsManagementPort] = (await freePorts(5)) as [number, number, number, number, number];
  const configFile = join(ca.directory, "pebble-config.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `${listenHost}:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: listener.certFile,
        privateKey: listener.keyFile,
        httpPort: options.httpPort,
        // TLS-ALPN-01 is not offered to (nor answered by) the handler; pebble wants a port all the same.
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        domainBlocklist: options.blocklist ?? [],
        ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
      },
    }, null, 2),
  );
  const output: string[] = [];
  const dnsArgs = ["-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${dnsManagementPort}`, "-defaultIPv4", options.answerIPv4 ?? "127.0.0.1", "-defaultIPv6", ""];
  const dns = started("pebble-challtestsrv", dnsArgs, process.env, output);
  const exited = (child: ChildProcess, name: string) => (child.exitCode !== null || child.signalCode !== null ? `${name} exited: ${output.join("").slice(-2000)}` : undefined);
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  await eventually(() => resolver.resolve4("probe.test"), (addresses) => addresses.includes(options.answerIPv4 ?? "127.0.0.1"), "pebble-challtestsrv's DNS", 30_000, { giveUpIf: () => exited(dns, "pebble-challtestsrv") });

  const pebbleEnv: NodeJS.ProcessEnv = { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_AUTHZREUSE: "0", PEBBLE_WFE_NONCEREJECT: "0" };
  delete pebbleEnv.PEBBLE_VA_ALWAYS_VALID;
  const pebbleArgs = ["-config", configFile, "-dnsserver", `127.0.0.1:${dnsPort}`];
  const pebble = started("pebble", pebbleArgs, pebbleEnv, output);
  const directoryUrl = `https://${listenHost}:${acmePort}/dir`;
  await eventually(() => httpsGet(directoryUrl, ca.caPem), (response) => response.status === 200 && response.body.includes("newOrder"), "pebble's ACME directory", 30_000, {
    giveUpIf: () => exited(pebble, "pebble") ?? exited(dns, "pebble-challtestsrv"),
  });

  return {
    directoryUrl,
    caFile: ca.caFile,
    configFile,
    commands: [
      `pebble-challtestsrv ${dnsArgs.map((arg) => (arg === "" ? '""' : arg)).join(" ")}`,
      `PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=0 pebble ${pebbleArgs.join(" ")}`,
    ],
    async rootPem() {
      const response = await httpsGet(`https://127.0.0.1:${managementPort}/roots/0`, ca.caPem);
      if (response.status !== 200) throw new Error(`pebble's management interface answered ${response.status} for /roots/0`);
      return response.body;
    },
    log: () => output.join(""),
    async stop() {
      await Promise.all([stopped(pebble), stopped(dns)]);
    },
  };
}
