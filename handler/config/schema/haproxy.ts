import type { HaproxyConfig, SlotsFileConfig } from "../types.js";
import { boolean, integer, section, text, type Table } from "./field.js";

export const slotsFileTable: Table<SlotsFileConfig> = {
  template: text({ doc: "The backends' configuration with `server-template` lines, written by the operator.", required: true, hint: "the path of the backends template (HAProxy configuration with server-template lines)" }),
  output: text({ doc: "The rendered file HAProxy loads (an extra `-f`); rewritten atomically after each apply.", required: true, hint: "the path of the file HAProxy loads with an extra -f" }),
};

export const haproxyTable: Table<HaproxyConfig> = {
  socket: text({ doc: "`host:port` or a unix socket path, at level admin.", required: true, hint: "host:port (127.0.0.1:9999) or a unix socket path" }),
  timeoutMs: integer(100, 600_000, { doc: "How long HAProxy may take to answer a batch of commands.", default: 5000 }),
  holdDownUntilChecked: boolean({ doc: "Fill slots with `health down` so traffic waits for HAProxy's own check.", default: true }),
  slotsFile: section(slotsFileTable, {
    doc: "Keep a configuration file HAProxy loads current with the slot assignment (see README, \"Reloads\").",
    absent: "unset",
    defaultText: "off",
    crossCheck: (slotsFile, path, problems) => {
      if (slotsFile.template && slotsFile.output && slotsFile.template === slotsFile.output) problems.push(`${path}: template and output must be different files (the output is rewritten)`);
    },
  }),
};
