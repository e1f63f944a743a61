#!/usr/bin/env node
// The command line: `watch`, `sync`, `status`, `check-config` (and `run`).
// Exit codes (reconcile/result.ts): 0 done; 1 the reconcile failed or Consul
// could not be trusted (HAProxy left as it was); 2 a usage or configuration
// error; 3 (sync, watch) applied, but nodes were left out for want of a slot
// or class.
import { Command, CommanderError, Option } from "commander";
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type HandlerConfig } from "../config/config.js";
import { createLogger, type Logger } from "../log.js";
import { closeContext, createContext, type HandlerContext } from "../reconcile/context.js";
import { describePortmapHold, readPortmapStatus, withPortmap } from "./portmap-check.js";
import { renderPortmap } from "../reconcile/render-portmap.js";
import { acmeChallengeServer, previewLoadBalancer } from "../lb/apply.js";
import type { PortmapChange } from "../portmap/change.js";
import { reconcile } from "../reconcile/reconcile.js";
import { EXIT_FAILED, EXIT_USAGE, exitCodeFor, reconcileResult } from "../reconcile/result.js";
import { nodesLeftOut } from "./report.js";
import { runWatch } from "../triggers/watch.js";
import { withLock } from "../reconcile/lock.js";
import { ConsulUntrusted } from "../source/consul-untrusted.js";
import { collectStatus, formatStatus } from "./status.js";
import { checkConfig } from "./check-config.js";
import { registerRunCommand } from "./run-command.js";
import { describeHold } from "../planner/mass-removal.js";
import { promote } from "./promote.js";
import { packageVersion } from "../version.js";

interface GlobalOptions {
  config: string;
  logLevel?: "error" | "warn" | "info" | "debug";
}

export function loadForCommand(options: GlobalOptions): { config: HandlerConfig; logger: Logger } {
  const config = loadConfig(options.config);
  const logger = createLogger(options.logLevel ?? config.log.level);
  return { config, logger };
}

/**
 * An emptied portmap whose listeners `run` holds (lb.render): released with
 * --allow-mass-removal by rendering the empty portmap (a checked reload
 * without them; `run` sees the rendered file and lets go), else reported.
 */
async function releaseOrReportPortmapHold(context: HandlerContext, allowMassRemoval: boolean): Promise<void> {
  const portmap = await readPortmapStatus(context);
  if (!portmap || portmap.heldListeners === 0 || !portmap.spec) return;
  if (!allowMassRemoval) return void context.logger.warn(describePortmapHold(portmap), { folder: portmap.folder });
  const applied = await renderPortmap(context, portmap.spec);
  context.logger.warn("released the emptied portmap: HAProxy reloaded without its listeners", { folder: portmap.folder, listeners: portmap.heldListeners, ...(applied.kind === "reloaded" ? { pid: applied.pid } : {}) });
}

/** `sync --dry-run`'s line for what `run` would do with the portmap in KV now (lb.render). */
function describePreview(change: PortmapChange): string {
  if (change.kind === "membership") return "HAProxy has this rendering: nothing to render or reload";
  if (change.kind === "routes") return `routes only: run swaps ${change.changed.join(", ")} over the runtime API (no reload)`;
  return `run renders it, checks it (haproxy -c) and reloads HAProxy: ${change.changed.join(", ")} differ`;
}

/** Runs a command body with uniform error reporting and exit codes. */
async function execute(options: GlobalOptions, body: (context: HandlerContext) => Promise<number>): Promise<void> {
  let context: HandlerContext | undefined;
  try {
    const { config, logger } = loadForCommand(options);
    context = await withPortmap(createContext(config, logger));
    process.exitCode = await body(context);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = EXIT_USAGE;
    } else if (error instanceof ConsulUntrusted) {
      const logger = context?.logger ?? createLogger("info");
      logger.error("Consul's answer is not trusted; HAProxy left as it is", { reason: error.reason, detail: error.message });
      process.exitCode = EXIT_FAILED;
    } else {
      const logger = context?.logger ?? createLogger("info");
      logger.error((error as Error).message ?? String(error));
      process.exitCode = EXIT_FAILED;
    }
  } finally {
    if (context) closeContext(context);
  }
}

function readStandardInput(limitBytes = 64 * 1024 * 1024): Promise<string> {
  if (process.stdin.isTTY) return Promise.resolve("");
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    process.stdin.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        reject(new Error(`the watch payload is larger than ${limitBytes} bytes`));
        process.stdin.destroy();
        return;
      }
      chunks.push(chunk);
    });
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

export function buildProgram(): Command {
  const program = new Command();
  const version = packageVersion();
  program
    .name("consul-haproxy-handler")
    .description("Keeps HAProxy server-template slots in step with Consul health, over the runtime API")
    .version(version)
    .option("-c, --config <file>", "configuration file", DEFAULT_CONFIG_PATH)
    .addOption(new Option("--log-level <level>", "overrides log.level").choices(["error", "warn", "info", "debug"]))
    .showHelpAfterError()
    // Usage errors (no command, an unknown command or option, a bad option
    // value) exit 2 as documented; commander's own default is 1. Set before
    // the commands are added, so that they inherit it.
    .exitOverride((error: CommanderError) => {
      const informational = error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help" && error.exitCode === 0;
      process.exit(informational ? 0 : EXIT_USAGE);
    });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  program
    .command("watch")
    .description("run by a Consul watch (handler_type script; type service, checks or services): reads the payload on stdin, then reconciles from a fresh read under a lock")
    .action(async () => {
      const payload = await readStandardInput();
      await execute(globals(), async (context) => exitCodeFor(reconcileResult(await runWatch(context, payload, process.env))));
    });

  program
    .command("sync")
    .description("reconcile once now")
    .option("--dry-run", "print the plan as the exact runtime commands; send nothing")
    .option("--allow-mass-removal", "apply a removal of most of a backend's nodes that the mass-removal guard holds back (policy.maxRemovalFraction)")
    .action(async (options: { dryRun?: boolean; allowMassRemoval?: boolean }) => {
      const allowMassRemoval = options.allowMassRemoval === true;
      await execute(globals(), async (context) => {
        if (options.dryRun) {
          const outcome = await reconcile(context, { dryRun: true, allowMassRemoval });
          for (const hold of outcome.held) console.log(`# held: ${describeHold(hold)}: ${hold.slots.join(", ")}`);
          const leftOut = new Set<string>();
          for (const [backend, nodes] of nodesLeftOut(context.policy, outcome.rejected, outcome.plan)) {
            for (const node of nodes) console.log(`# left out of ${backend}: ${node.serviceId}: ${node.reason}`);
            for (const node of nodes) leftOut.add(node.serviceId);
          }
          for (const command of outcome.commands) console.log(command);
          if (outcome.commands.length === 0) console.log(`# nothing to do: HAProxy matches Consul${leftOut.size > 0 ? ` (except the ${leftOut.size} node(s) left out above)` : ""}`);
          const portmap = await readPortmapStatus(context);
          if (portmap && portmap.heldListeners > 0) console.log(`# held: ${describePortmapHold(portmap)}${allowMassRemoval ? " (--allow-mass-removal: would reload HAProxy without them)" : ""}`);
          else if (portmap?.spec && context.config.lb.render) {
            const preview = previewLoadBalancer(portmap.spec, context.config.lb, acmeChallengeServer(context.config.run.listen));
            console.log(`# portmap: ${describePreview(preview)}`);
            for (const line of preview.diff) console.log(`#   ${line}`);
          }
          return 0;
        }
        return withLock(context.config.lockFile, async () => {
          const outcome = await reconcile(context, { allowMassRemoval });
          await releaseOrReportPortmapHold(context, allowMassRemoval);
          return exitCodeFor(reconcileResult(outcome));
        });
      });
    });

  program
    .command("status")
    .description("every managed slot: state, address, weight, maxconn, the Consul service ID behind it, health")
    .option("--json", "machine-readable output")
    .option("--all", "also list empty slots")
    .action(async (options: { json?: boolean; all?: boolean }) => {
      await execute(globals(), async (context) => {
        const report = await collectStatus(context);
        console.log(options.json ? JSON.stringify(report, null, 2) : formatStatus(report, { all: options.all === true }));
        return 0;
      });
    });

  program
    .command("check-config")
    .description("validate the config, reach Consul and HAProxy, and check that every backend and slot prefix exists")
    .action(async () => {
      await execute(globals(), async (context) => {
        const results = await checkConfig(context);
        for (const result of results) console.log(`${!result.ok ? "FAIL" : result.warning ? "warn" : "ok  "} ${result.what}: ${result.detail}`);
        return results.every((result) => result.ok) ? 0 : EXIT_FAILED;
      });
    });

  program
    .command("promote")
    .description("make a version's generation serve now (kept in Consul KV consul-haproxy-handler/<service>/promoted, so it survives restarts); --clear returns to the automatic rules")
    .argument("<service>", "a service with versioning in the config")
    .argument("[version]", "MAJOR.MINOR.PATCH[-pre]; its generation serves while it has a healthy instance")
    .option("--clear", "remove the promotion")
    .action(async (service: string, version: string | undefined, options: { clear?: boolean }) => {
      await execute(globals(), async (context) => {
        const result = await promote(context, service, version, { clear: options.clear === true });
        if (!result.ok) {
          console.error(result.message);
          return result.usage ? EXIT_USAGE : EXIT_FAILED;
        }
        console.log(result.message);
        return result.reconciled === undefined ? 0 : exitCodeFor(result.reconciled);
      });
    });

  registerRunCommand(program, globals);
  return program;
}

await buildProgram().parseAsync(process.argv);
