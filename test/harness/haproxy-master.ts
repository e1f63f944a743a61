// HAProxy in master-worker mode (`haproxy -W -S <master socket> -f main -f
// slots`), as Debian's unit runs it, with the two things its systemd unit
// does around a reload or a stop: save the server state first (so the next
// process restores weights, admin and operational states), then SIGUSR2
// (reload) or SIGTERM (stop).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { RuntimeApiClient } from "../../handler/haproxy-runtime-api/index.js";
import { eventually } from "./eventually.js";

export interface MasterWorkerHaproxy {
  admin: RuntimeApiClient;
  /** The worker's Pid as `show info` reports it. */
  workerPid(): Promise<number>;
  /** Saves the server state, sends SIGUSR2, waits until a new worker answers. */
  reload(): Promise<void>;
  /** Saves the server state, stops the master (SIGTERM) and starts a new one. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface MasterWorkerOptions {
  configFiles: string[];
  masterSocket: string;
  adminAddress: string;
  stateFile: string;
}

/**
 * The `global` and `defaults` sections a master-worker HAProxy of the tests
 * runs with, as the playbook's: an admin socket on loopback TCP, the server
 * state saved before a reload or stop and loaded by the next process, and
 * idle keep-alive connections of an old process closed after their next
 * answer (a reload costs no request).
 */
export function masterWorkerSections(options: { adminPort: number; stateFile: string; timeouts: { connect: string; clientAndServer: string } }): string {
  return `global
    stats socket ipv4@127.0.0.1:${options.adminPort} level admin
    stats timeout 30s
    server-state-file ${options.stateFile}
defaults
    mode http
    timeout connect ${options.timeouts.connect}
    timeout client ${options.timeouts.clientAndServer}
    timeout server ${options.timeouts.clientAndServer}
    load-server-state-from-file global
    option idle-close-on-response
`;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export async function startMasterWorker(options: MasterWorkerOptions): Promise<MasterWorkerHaproxy> {
  const admin = new RuntimeApiClient(options.adminAddress, { timeoutMs: 2000 });
  let master: ChildProcess | undefined;
  let stderr = "";

  const workerPid = async (): Promise<number> => (await admin.showInfo()).pid;

  const waitForWorker = async (other: number | undefined): Promise<void> => {
    await eventually(workerPid, (pid) => pid !== other, `a new HAProxy worker on ${options.adminAddress}`, 15_000, {
      intervalMs: 10,
      giveUpIf: () => (master?.exitCode !== null && master?.exitCode !== undefined ? `haproxy exited (${master.exitCode})` : undefined),
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; haproxy stderr: ${stderr}`);
    });
  };

  const start = async (): Promise<void> => {
    const args = ["-W", "-db", "-S", options.masterSocket, ...options.configFiles.flatMap((file) => ["-f", file])];
    const child = spawn("haproxy", args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
    children.add(child);
    child.once("exit", () => children.delete(child));
    master = child;
    await waitForWorker(undefined);
  };

  // What haproxy-save-server-state does before every reload and stop: the
  // answer byte for byte, as `echo "show servers state" | socat` writes it.
  const saveState = async (): Promise<void> => {
    const [host = "", port = ""] = options.adminAddress.split(":");
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host, port: Number(port) });
      let output = "";
      socket.setEncoding("utf8");
      socket.on("connect", () => socket.write("show servers state\n"));
      socket.on("data", (chunk: string) => (output += chunk));
      socket.on("close", () => resolve(output));
      socket.on("error", reject);
    });
    if (!answer.startsWith("1\n")) throw new Error(`show servers state: unexpected answer ${JSON.stringify(answer.slice(0, 200))}`);
    writeFileSync(options.stateFile, answer);
  };

  const stop = async (): Promise<void> => {
    const current = master;
    master = undefined;
    if (!current || current.exitCode !== null) return;
    const exited = new Promise((resolve) => current.once("exit", resolve));
    current.kill("SIGTERM");
    await exited;
  };

  /** One command on the master CLI; undefined while the master does not answer (re-exec after a reload). */
  const masterCommand = (text: string): Promise<string | undefined> =>
    new Promise((resolve) => {
      const socket = connect({ path: options.masterSocket });
      let output = "";
      socket.setEncoding("utf8");
      socket.on("connect", () => socket.end(`${text}\n`));
      socket.on("data", (chunk: string) => (output += chunk));
      socket.on("close", () => resolve(output));
      socket.on("error", () => resolve(undefined));
    });

  /** The master re-executes itself on a reload; a signal sent meanwhile is lost. Wait until it lists the worker. */
  const waitForMaster = async (pid: number): Promise<void> => {
    await eventually(() => masterCommand("show proc"), (processes) => processes?.includes(`\n${pid} `) === true, `the HAProxy master to list worker ${pid}`, 15_000, { intervalMs: 10 }).catch(
      (error: unknown) => {
        throw new Error(`${(error as Error).message}; haproxy stderr: ${stderr}`);
      },
    );
  };

  await start();
  await waitForMaster(await workerPid());
  return {
    admin,
    workerPid,
    async reload() {
      const before = await workerPid();
      await saveState();
      master?.kill("SIGUSR2");
      await waitForWorker(before);
      await waitForMaster(await workerPid());
    },
    async restart() {
      await saveState();
      await stop();
      await start();
      await waitForMaster(await workerPid());
    },
    stop,
  };
}

/** Where a test's master-worker HAProxy and its rendered portmap live. */
export interface MasterWorkerFiles {
  /** The test's directory (maps, cookie key). */
  directory: string;
  mainFile: string;
  portmapFile: string;
  masterSocket: string;
  stateFile: string;
}

export function masterWorkerFiles(directory: string): MasterWorkerFiles {
  return {
    directory,
    mainFile: join(directory, "haproxy.cfg"),
    portmapFile: join(directory, "portmap.cfg"),
    masterSocket: join(directory, "master.sock"),
    stateFile: join(directory, "server-state"),
  };
}

export interface RenderingHandlerFiles extends MasterWorkerFiles {
  consulAddress: string;
  adminPort: number;
  /** run.listen: a fixed port, where the rendered http listeners send ACME challenges. */
  listen: string;
  /** The portmap's KV folder. */
  folder: string;
  /** lb keys on top of (or in place of) the shared ones: certDirectory, ... */
  lb: Record<string, unknown>;
}

/** The handler config of a `run` that renders the portmap into a master-worker HAProxy (startMasterWorker's files). */
export function renderingHandlerConfig(files: RenderingHandlerFiles): Record<string, unknown> {
  return {
    consul: { address: files.consulAddress, timeoutMs: 2000 },
    haproxy: { socket: `127.0.0.1:${files.adminPort}`, timeoutMs: 2000 },
    policy: { drainSeconds: 0 },
    run: { listen: files.listen },
    services: [{ name: "iri", backend: "main_back", slotPrefix: "srv" }],
    lb: {
      kvPrefix: files.folder,
      enabled: true,
      render: true,
      configFile: files.portmapFile,
      mapDirectory: join(files.directory, "maps"),
      bindAddress: "127.0.0.1",
      checkWith: [files.mainFile],
      haproxyBinary: execFileSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" }).trim(),
      masterSocket: files.masterSocket,
      serverStateFile: files.stateFile,
      cookieKeyFile: join(files.directory, "cookie-key"),
      ...files.lb,
    },
  };
}
