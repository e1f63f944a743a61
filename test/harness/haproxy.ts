// Starts a real HAProxy (foreground child, `-db`) with a config a test
// writes, waits until its admin socket answers, and can restart it on the
// same ports (a fresh process: runtime changes are gone, as after a crash).
// CHH_HAPROXY_BIN names the program to run instead of `haproxy` from PATH,
// e.g. test/harness/haproxy-chroot.sh for another Debian release's HAProxy.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { eventually } from "./eventually.js";
import { freePorts } from "./ports.js";

export interface HaproxyInstance {
  directory: string;
  configFile: string;
  adminAddress: string;
  pid(): number | undefined;
  stop(): Promise<void>;
  /**
   * Kills HAProxy and starts it again. Resolves with the time (ms, on
   * process.hrtime's clock) at which the first probe that HAProxy answered
   * was sent: no later than the moment it answered. readinessPollMs (default
   * 20) is how often its admin socket is probed.
   */
  restart(options?: { readinessPollMs?: number }): Promise<number>;
}

export interface HaproxyOptions {
  /** The whole haproxy.cfg. */
  config: string;
  /** The TCP admin socket port in that config, used to wait for readiness. */
  adminPort: number;
}

/** The `Version:` of `show info` once the admin socket answers, else undefined. */
function answers(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let output = "";
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("show info\n"));
    socket.on("data", (chunk: string) => (output += chunk));
    socket.on("close", () => resolve(output.includes("Name: HAProxy") ? (/^Version: (\S+)/m.exec(output)?.[1] ?? "") : undefined));
    socket.on("error", () => resolve(undefined));
  });
}

/**
 * CHH_EXPECT_HAPROXY_VERSION (set by test/integration-on.sh, e.g. "3.0"):
 * the suite must meet that version, not whatever `haproxy` it found.
 */
function checkVersion(version: string): void {
  const expected = process.env.CHH_EXPECT_HAPROXY_VERSION;
  if (expected && !version.startsWith(`${expected}.`)) {
    throw new Error(`the tests expect HAProxy ${expected} (CHH_EXPECT_HAPROXY_VERSION) but ${haproxyProgram} is ${version || "of unknown version"}`);
  }
}

/** The HAProxy the tests meet: CHH_HAPROXY_BIN, or `haproxy` from PATH. */
export const haproxyProgram = process.env.CHH_HAPROXY_BIN || "haproxy";

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyInstance> {
  const directory = mkdtempSync(join(tmpdir(), "cht-haproxy-"));
  const configFile = join(directory, "haproxy.cfg");
  writeFileSync(configFile, options.config);
  let child: ChildProcess | undefined;
  let stderr = "";

  const start = async (readinessPollMs = 20): Promise<number> => {
    stderr = "";
    const process_ = spawn(haproxyProgram, ["-db", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    process_.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    running.add(process_);
    process_.once("exit", () => running.delete(process_));
    child = process_;
    let probeSent = 0;
    const version = await eventually(
      () => {
        probeSent = Number(process.hrtime.bigint()) / 1e6;
        return answers(options.adminPort);
      },
      (answer): answer is string => answer !== undefined,
      `haproxy's admin socket on port ${options.adminPort}`,
      10_000,
      { intervalMs: readinessPollMs, giveUpIf: () => (process_.exitCode !== null ? `${haproxyProgram} exited (${process_.exitCode})` : undefined) },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; haproxy stderr: ${stderr}`);
    });
    try {
      checkVersion(version);
    } catch (error) {
      process_.kill("SIGKILL");
      throw error;
    }
    return probeSent;
  };

  const stop = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null) return;
    const exited = new Promise((resolve) => current.once("exit", resolve));
    current.kill("SIGKILL");
    await exited;
  };

  await start();
  return {
    directory,
    configFile,
    adminAddress: `127.0.0.1:${options.adminPort}`,
    pid: () => child?.pid,
    stop,
    async restart(restartOptions = {}) {
      await stop();
      return start(restartOptions.readinessPollMs);
    },
  };
}

/** One command on a TCP admin socket (127.0.0.1:port), its whole answer: for tests that fill slots by hand. */
export function admin(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.end(`${command}\n`));
    let output = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (output += chunk));
    socket.on("close", () => resolve(output));
    socket.on("error", reject);
  });
}

/** The global and defaults sections of a test's HAProxy: the admin socket on loopback, http mode, the timeouts given. */
export function adminSections(adminPort: number, timeouts: { stats: string; connect: string; clientAndServer: string; check?: string }): string {
  return `global
    stats socket ipv4@127.0.0.1:${adminPort} level admin
    stats timeout ${timeouts.stats}
defaults
    mode http
    timeout connect ${timeouts.connect}
    timeout client ${timeouts.clientAndServer}
    timeout server ${timeouts.clientAndServer}
${timeouts.check === undefined ? "" : `    timeout check ${timeouts.check}\n`}`;
}

/**
 * HAProxy with one TLS listener on a crt directory (every file there a
 * certificate, chosen by SNI) that answers 200 with `body`: what the
 * certificate tests swap certificates into.
 */
export async function startTlsHaproxy(crtDirectory: string, body: string): Promise<{ haproxy: HaproxyInstance; adminPort: number; tlsPort: number }> {
  const [adminPort, tlsPort] = (await freePorts(2)) as [number, number];
  const haproxy = await startHaproxy({
    adminPort,
    config: `
${adminSections(adminPort, { stats: "30s", connect: "5s", clientAndServer: "15s" })}frontend tls
    bind 127.0.0.1:${tlsPort} ssl crt ${crtDirectory}
    http-request return status 200 content-type text/plain string ${body}
`,
  });
  return { haproxy, adminPort, tlsPort };
}
