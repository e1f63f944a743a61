// Runs the real CLI as a child process, from the compiled tree (CI) or from
// the TypeScript sources through tsx (one test file during development).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const fromSources = import.meta.url.endsWith(".ts");
/** Repository root: test/harness is two levels down, dist/test/harness three. */
export const repositoryRoot = resolve(here, fromSources ? "../.." : "../../..");

/**
 * Node options for the CLI's processes, from CHH_CLI_NODE_ARGS (space-separated):
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles` for the profiles in
 * docs/profiles.md, which Node does not take from NODE_OPTIONS.
 */
function nodeArgs(): string[] {
  return (process.env.CHH_CLI_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
}

export function cliCommand(): string[] {
  return fromSources
    ? [process.execPath, ...nodeArgs(), "--import", "tsx", join(repositoryRoot, "handler/cli/main.ts")]
    : [process.execPath, ...nodeArgs(), join(repositoryRoot, "dist/handler/cli/main.js")];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const [command, ...prefix] = cliCommand();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command ?? process.execPath, [...prefix, ...args], { env: { ...process.env, CONSUL_HTTP_TOKEN: "", ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? "");
  });
}

/** Writes a handler config file and returns its path. */
export function writeHandlerConfig(config: Record<string, unknown>): string {
  const directory = mkdtempSync(join(tmpdir(), "cht-handler-"));
  const file = join(directory, "config.yml");
  const withLock = { lockFile: join(directory, "handler.lock"), ...config };
  writeFileSync(file, stringify(withLock));
  return file;
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** Everything written to stderr so far (the logs). */
  logs(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running command (`run`) and keeps its logs. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): RunningCli {
  const [command, ...prefix] = cliCommand();
  const child = spawn(command ?? process.execPath, [...prefix, ...args], { env: { ...process.env, CONSUL_HTTP_TOKEN: "", ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolvePromise) => child.once("exit", (code) => resolvePromise(code)));
  return {
    child,
    logs: () => stderr,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs `during` with the handler stopped (SIGSTOP), then lets it go on:
 * what `during` reads of HAProxy cannot include anything the handler did
 * meanwhile (`run` re-applies weight and maxconn on a new worker at once).
 */
export async function whileHandlerPaused<T>(cli: RunningCli, during: () => Promise<T>): Promise<T> {
  if (!cli.child.kill("SIGSTOP")) throw new Error("could not pause the handler (SIGSTOP)");
  try {
    return await during();
  } finally {
    cli.child.kill("SIGCONT");
  }
}
