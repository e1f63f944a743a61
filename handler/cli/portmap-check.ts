// check-config's lines for the load balancer's portmap (lb.kvPrefix): the
// keys read from Consul KV and judged by the same parser the wiring will use
// (issue 17), so an operator can write and validate a portmap before `run`
// applies one. A portmap that does not parse fails check-config; a KV folder
// that cannot be read is a warning, because nothing reads it yet at runtime.
import { closeContext, createContext, type HandlerContext } from "../reconcile/context.js";
import { formatEntry } from "../portmap/format.js";
import { judgePortmap, readPortmapKv, reservedPortsOf } from "../source/portmap-kv.js";
import type { CheckResult } from "./check-result.js";

export async function checkPortmap(context: HandlerContext): Promise<CheckResult> {
  const folder = context.config.lb.kvPrefix;
  const what = `portmap ${folder}`;
  let read;
  try {
    read = await readPortmapKv(context.kv, folder);
  } catch (error) {
    return { ok: true, warning: true, what, detail: `${(error as Error).message} (run does not apply the portmap yet)` };
  }
  if (read.values.size === 0) return { ok: true, what, detail: "no keys: no listeners of its own (run does not apply the portmap yet)" };
  const verdict = judgePortmap(read.values, folder, reservedPortsOf(context.config));
  if (!verdict.ok) return { ok: false, what, detail: `${verdict.error.key}: ${verdict.error.message}` };
  const { entries, maxRs } = verdict.spec;
  const listed = entries.map((entry) => formatEntry(entry, maxRs)).join(" ");
  return { ok: true, what, detail: `valid: ${entries.length} entr${entries.length === 1 ? "y" : "ies"}${listed ? `: ${listed}` : ""} (run does not apply the portmap yet)` };
}

/**
 * The one-shot commands (sync, status, check-config) see the portmap's
 * backends as `run` does when lb.enabled: the context is built again with the
 * portmap read now. A portmap that cannot be read or does not parse leaves
 * them out (those commands then leave its backends as they are) and says why.
 */
export async function withPortmap(context: HandlerContext): Promise<HandlerContext> {
  const { config, logger } = context;
  if (!config.lb.enabled) return context;
  try {
    const read = await readPortmapKv(context.kv, config.lb.kvPrefix);
    const verdict = judgePortmap(read.values, config.lb.kvPrefix, reservedPortsOf(config));
    if (!verdict.ok) throw verdict.error;
    if (verdict.spec.entries.length === 0) return context;
    closeContext(context);
    return createContext(config, logger, verdict.spec);
  } catch (error) {
    logger.warn("the portmap's backends are left out of this command", { folder: config.lb.kvPrefix, detail: (error as Error).message });
    return context;
  }
}
