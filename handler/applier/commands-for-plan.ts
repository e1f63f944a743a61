// Translates planner operations into runtime API commands. Every argument
// goes through the HAProxy client's validating builders; a value that would
// be refused there is a bug upstream, and the step is reported, not sent.
// A slot setting's command is the builder its table entry names
// (planner/slot-settings.ts), with the entry's arguments.
import { commands, type RuntimeCommand } from "../haproxy-runtime-api/index.js";
import type { SlotOperation } from "../planner/model.js";
import { settingOf, type SettingCommand } from "../planner/slot-settings.js";

/** A builder for one server's setting: backend, server, then the setting's values. */
type SettingBuilder = (backend: string, server: string, ...values: never[]) => RuntimeCommand;

// Checked by the compiler: every builder the table names exists in the runtime client.
const SETTING_BUILDERS: Readonly<Record<SettingCommand, SettingBuilder>> = commands;

function settingCommand(backend: string, server: string, command: SettingCommand, values: readonly (string | number)[]): RuntimeCommand {
  // The entry's arguments are the builder's, which checks each one (an IP
  // literal, a port, a number in range, a known word) and throws otherwise.
  const builder = SETTING_BUILDERS[command] as (backend: string, server: string, ...values: readonly (string | number)[]) => RuntimeCommand;
  return builder(backend, server, ...values);
}

export function commandFor(backend: string, server: string, operation: SlotOperation): RuntimeCommand {
  switch (operation.kind) {
    case "set-health":
      return commands.setServerHealth(backend, server, operation.health);
    case "add-server":
      return commands.addServer(backend, server, operation.address, operation.port, operation.keywords);
    case "enable-health":
      return commands.enableHealth(backend, server);
    default: {
      const entry = settingOf(operation.kind);
      if (!entry) throw new Error(`no runtime command for the operation ${operation.kind}`);
      return settingCommand(backend, server, entry.command, entry.arguments(operation));
    }
  }
}
