// Keeps the slots file (haproxy.slotsFile) in step with HAProxy's slots after
// each apply, so a reload or restart of HAProxy at any moment finds every node
// in its slot. A failure here never blocks a reconcile: the runtime state is
// already right; it is logged (once per distinct problem) because the next
// reload would then lose the slot assignment.
import { existsSync, readFileSync } from "node:fs";
import type { SlotsFileConfig } from "../config/config.js";
import type { Slot } from "../planner/model.js";
import { renderSlotsFile } from "../slots-file/render.js";
import { writeFileAtomically } from "../slots-file/write.js";
import { managedPrefixes } from "../planner/selection.js";
import type { HandlerContext } from "./context.js";
import { templateFileOf } from "../lb/files.js";

/**
 * The files kept in step: the playbook's slots file, and the rendered portmap
 * (lb.render) once the handler has written its template (`<configFile>.in`).
 */
export function keptSlotsFiles(context: Pick<HandlerContext, "config">): SlotsFileConfig[] {
  const { haproxy, lb } = context.config;
  const files = haproxy.slotsFile ? [haproxy.slotsFile] : [];
  const portmapTemplate = templateFileOf(lb.configFile);
  if (lb.enabled && lb.render && existsSync(portmapTemplate)) files.push({ template: portmapTemplate, output: lb.configFile });
  return files;
}

/** The last problem logged, per output file: the same one is not logged on every reconcile. */
const lastProblem = new Map<string, string>();

export function keepSlotsFile(context: HandlerContext, slotsFile: SlotsFileConfig, slots: readonly Slot[]): void {
  try {
    // Read on every call: a playbook run may have changed the template.
    const template = readFileSync(slotsFile.template, "utf8");
    const written = writeFileAtomically(slotsFile.output, renderSlotsFile(template, slots, managedPrefixes(context.policy), slotsFile.template));
    if (written) context.logger.debug("slots file written", { file: slotsFile.output });
    if (lastProblem.has(slotsFile.output)) context.logger.info("slots file written again", { file: slotsFile.output });
    lastProblem.delete(slotsFile.output);
  } catch (error) {
    const detail = (error as Error).message;
    if (lastProblem.get(slotsFile.output) === detail) return;
    lastProblem.set(slotsFile.output, detail);
    context.logger.error("cannot keep the slots file current; a reload of HAProxy now would put nodes in other slots", { template: slotsFile.template, output: slotsFile.output, detail });
  }
}
