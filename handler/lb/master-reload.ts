// A reload of HAProxy in master-worker mode, asked by the handler itself over
// the master CLI (`reload`), as `systemctl reload haproxy` does with SIGUSR2:
// the master starts a new worker with the configuration on disk and hands it
// the listening sockets, so no connection is refused. The server state is
// saved first (when HAProxy loads it: `server-state-file`), so the new worker
// starts with every slot's address, weight and state; a reload is done when a
// new worker answers on the admin socket.
import { connect } from "node:net";
import type { ProcessInfo } from "../haproxy-runtime-api/index.js";
import { writeWhole } from "./files.js";

/** How long a reload may take, from the master's `reload` to a new worker answering (a large configuration takes seconds to load). */
export const RELOAD_TIMEOUT_MS = 30_000;

export interface ReloadTarget {
  /** The master CLI's unix socket (`-S` of HAProxy's unit). */
  masterSocket: string;
  /** The global `server-state-file`, saved before the reload; undefined: HAProxy loads none. */
  serverStateFile: string | undefined;
  timeoutMs: number;
}

/** What the reload needs of the admin socket: who answers, and its server state as text. */
export interface WorkerSocket {
  showInfo(): Promise<Pick<ProcessInfo, "pid">>;
  serverStateText(): Promise<string>;
}

export class ReloadFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReloadFailed";
  }
}

/** One command on the master CLI; its answer. */
export function masterCommand(socketPath: string, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    let output = "";
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.end(`${text}\n`));
    socket.on("data", (chunk: string) => (output += chunk));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(output);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new ReloadFailed(`HAProxy's master CLI ${socketPath} did not take '${text}': ${error.message}; check lb.masterSocket (HAProxy's -S) and that the handler's user may open it`));
    });
  });
}

/** Saves the server state, asks the master to reload, and waits for the new worker. Returns its Pid. */
export async function reloadHaproxy(target: ReloadTarget, worker: WorkerSocket): Promise<{ pid: number; previousPid: number }> {
  const previousPid = (await worker.showInfo()).pid;
  if (target.serverStateFile !== undefined) {
    const state = await worker.serverStateText();
    // A good answer starts with the format version line; anything else would make the new worker start with empty slots.
    if (!state.startsWith("1\n")) throw new ReloadFailed(`HAProxy's 'show servers state' answered ${JSON.stringify(state.slice(0, 80))}; not reloading without the state to restore`);
    writeWhole(target.serverStateFile, state, 0o640);
  }
  await masterCommand(target.masterSocket, "reload", target.timeoutMs);
  const deadline = Date.now() + target.timeoutMs;
  for (;;) {
    const pid = await worker.showInfo().then(
      (info) => info.pid,
      () => undefined,
    );
    if (pid !== undefined && pid !== previousPid) return { pid, previousPid };
    if (Date.now() > deadline) throw new ReloadFailed(`HAProxy did not start a new worker within ${target.timeoutMs} ms of the reload (still pid ${previousPid}); its master's log says why (journalctl -u haproxy)`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
