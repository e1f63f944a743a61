// Translates planner operations into runtime API commands. Every argument
// goes through the HAProxy client's validating builders; a value that would
// be refused there is a bug upstream, and the step is reported, not sent.
import { commands, type RuntimeCommand } from "../haproxy-runtime-api/index.js";
import type { SlotOperation } from "../planner/model.js";

export function commandFor(backend: string, server: string, operation: SlotOperation): RuntimeCommand {
  switch (operation.kind) {
    case "set-addr":
      return commands.setServerAddr(backend, server, operation.address, operation.port);
    case "set-weight":
      return commands.setServerWeight(backend, server, operation.weight);
    case "set-maxconn":
      return commands.setServerMaxconn(backend, server, operation.maxconn);
    case "set-state":
      return commands.setServerState(backend, server, operation.state);
    case "set-health":
      return commands.setServerHealth(backend, server, operation.health);
    case "add-server":
      return commands.addServer(backend, server, operation.address, operation.port, operation.keywords);
    case "enable-health":
      return commands.enableHealth(backend, server);
  }
}
