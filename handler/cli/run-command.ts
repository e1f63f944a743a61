// `run`: the long-running controller, with SIGTERM (finish the batch in
// flight, then exit 0) and SIGHUP (reload the config) handling.
import type { Command } from "commander";
import { ConfigError, loadConfig, type HandlerConfig } from "../config/config.js";
import { createLogger } from "../log.js";

export function registerRunCommand(program: Command, globals: () => { config: string; logLevel?: "error" | "warn" | "info" | "debug" }): void {
  program
    .command("run")
    .description("long-running controller: blocking queries on Consul, coalesced reconciles, periodic resync, HAProxy restart detection")
    .action(async () => {
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
      const controller = new Controller(options.config, config, logger);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info("stopping", { signal });
        controller.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error("stop failed", { detail: (error as Error).message });
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGHUP", () => void controller.reload());
      try {
        await controller.start();
      } catch (error) {
        logger.error("cannot start", { detail: (error as Error).message });
        process.exit(1);
      }
    });
}
