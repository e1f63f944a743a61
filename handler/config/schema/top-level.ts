import type { HandlerConfig } from "../types.js";
import { checkConsul, consulTable } from "./consul.js";
import { section, text, type Table } from "./field.js";
import { haproxyTable } from "./haproxy.js";
import { checkLb, lbTable } from "./lb.js";
import { logTable } from "./log.js";
import { policyTable } from "./policy.js";
import { checkRun, runTable } from "./run.js";
import { servicesField } from "./services.js";

/** The file's top level: the sections and lockFile. */
export const topLevelTable: Table<HandlerConfig> = {
  consul: section(consulTable, { doc: "How to reach Consul.", absent: "defaults", crossCheck: checkConsul }),
  haproxy: section(haproxyTable, { doc: "How to reach HAProxy.", absent: "required" }),
  policy: section(policyTable, { doc: "How nodes become slot states, and the mass-removal guard.", absent: "defaults" }),
  lockFile: text({ doc: "The lock every command takes; the guard's state and the change stamp live beside it.", default: "/run/lock/consul-haproxy-handler.lock", hint: "a file path" }),
  run: section(runTable, { doc: "The `run` command's listener and resync.", absent: "defaults", crossCheck: checkRun }),
  log: section(logTable, { doc: "Logging.", absent: "defaults" }),
  lb: section(lbTable, { doc: "The load balancer's own listeners from Consul KV (docs/portmap.md).", absent: "defaults", crossCheck: checkLb }),
  services: servicesField,
};
