// `run`: the long-running controller, with SIGTERM (finish the batch in
// flight, then exit 0) and SIGHUP (reload the config) handling.
import type { Command } from "commander";
import { ConfigError, loadConfig, type HandlerConfig } from "../config/config.js";
import { createLogger } from "../log.js";
import type { Controller as StartedController } from "../triggers/run.js";

export function registerRunCommand(program: Command, globals: () => { config: string; logLevel?: "error" | "warn" | "info" | "debug" }): void {
  program
    .command("run")
    .description("long-running controller: blocking queries on Consul, coalesced reconciles, periodic resync, HAProxy restart detection")
    .action(async () => {
      // Caught before anything else: Node's default for SIGHUP ends the
      // process, and a reload can come while the controller is starting. It
      // is applied once the controller runs (its loops exist to restart).
      const started: { controller?: StartedController; reloadPending: boolean } = { reloadPending: false };
      process.on("SIGHUP", () => {
        // (After stop(), the controller's reload does nothing.)
        if (started.controller) void started.controller.reload();
        else started.reloadPending = true;
      });
      const options = globals();
      let config: HandlerConfig;
      try {
        config = loadConfig(options.config);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(error.message);
        process.exitCode = 2;
        return;
      }
      const logger = createLogger(options.logLevel ?? config.log.level);
      // Loaded here, not at start-up: `watch` runs once per Consul event and
      // should not pay for the controller's modules.
      const { Controller } = await import("../triggers/run.js");
      const starting = new Controller(options.config, config, logger);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info("stopping", { signal });
        starting.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error("stop failed", { detail: (error as Error).message });
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      try {
        await starting.start();
      } catch (error) {
        logger.error("cannot start", { detail: (error as Error).message });
        process.exit(1);
      }
      started.controller = starting;
      if (started.reloadPending && !stopping) {
        logger.info("a SIGHUP came while starting; reloading the config now");
        void starting.reload();
      }
    });
}
