// check-config's line for the load balancer's portmap (lb.kvPrefix): the keys
// read from Consul KV and judged by the parser `run` uses, so an operator can
// validate a portmap before turning lb.enabled on. A portmap that does not
// parse fails check-config; a KV folder that cannot be read fails it while
// lb.enabled is on (run depends on it) and is only a warning while it is off.
import { closeContext, createContext, type HandlerContext } from "../reconcile/context.js";
import { heldListeners } from "../reconcile/render-portmap.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import { formatEntry } from "../portmap/format.js";
import { judgePortmap, readPortmapKv, reservedPortsOf } from "../source/portmap-kv.js";
import type { CheckResult } from "./check-result.js";
import { acmeChallengeServer } from "../lb/apply.js";

export async function checkPortmap(context: HandlerContext): Promise<CheckResult> {
  const folder = context.config.lb.kvPrefix;
  const what = `portmap ${folder}`;
  const applied = context.config.lb.enabled ? "" : " (lb.enabled is false: run does not apply it)";
  let read;
  try {
    read = await readPortmapKv(context.kv, folder);
  } catch (error) {
    return context.config.lb.enabled ? { ok: false, what, detail: (error as Error).message } : { ok: true, warning: true, what, detail: `${(error as Error).message}${applied}` };
  }
  if (read.values.size === 0) return { ok: true, what, detail: `no keys: no listeners of its own${applied}` };
  const verdict = judgePortmap(read.values, folder, reservedPortsOf(context.config));
  if (!verdict.ok) return { ok: false, what, detail: `${verdict.error.key}: ${verdict.error.message}` };
  const { entries, maxRs } = verdict.spec;
  const listed = entries.map((entry) => formatEntry(entry, maxRs)).join(" ");
  const detail = `valid: ${entries.length} entr${entries.length === 1 ? "y" : "ies"}${listed ? `: ${listed}` : ""}${applied}`;
  const noChallenges = challengeRouteMissing(context, verdict.spec);
  return noChallenges === undefined ? { ok: true, what, detail } : { ok: true, warning: true, what, detail: `${detail}; ${noChallenges}` };
}

/** Why certificate_name cannot be ordered over HTTP-01 with this config, if it cannot. */
function challengeRouteMissing(context: HandlerContext, spec: LoadBalancerSpec): string | undefined {
  if (spec.certificateNames.length === 0 || !context.config.lb.render) return undefined;
  if (acmeChallengeServer(context.config.run.listen) === undefined) {
    return "certificate_name is set but run.listen is not a fixed host:port, so no http listener can send the CA's HTTP-01 challenges to the handler: set run.listen (e.g. 127.0.0.1:9701)";
  }
  if (!spec.entries.some((entry) => entry.type === "http")) {
    return "certificate_name is set but the portmap has no plain http listener, and HTTP-01 challenges come over http: add one on port 80 (e.g. http://80:<service>)";
  }
  return undefined;
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

/** `status`'s portmap block (lb.enabled): the folder as read now, canonically, and what `run` holds of it. */
export interface PortmapStatus {
  folder: string;
  /** Consul's index of the folder (0 when it has no key). */
  index: number;
  entries: string[];
  /** Listeners HAProxy keeps from the rendered file while the folder has no entry (released by sync --allow-mass-removal). */
  heldListeners: number;
  /** Why the folder is not what `run` follows (unreadable, does not parse). */
  problem?: string;
  /** The spec read now, when it parsed (not shown: `sync --allow-mass-removal` renders it). */
  spec?: LoadBalancerSpec;
}

export async function readPortmapStatus(context: HandlerContext): Promise<PortmapStatus | undefined> {
  const { config } = context;
  if (!config.lb.enabled) return undefined;
  const folder = config.lb.kvPrefix;
  try {
    const read = await readPortmapKv(context.kv, folder);
    const verdict = judgePortmap(read.values, folder, reservedPortsOf(config));
    if (!verdict.ok) return { folder, index: read.index, entries: [], heldListeners: 0, problem: `${verdict.error.key}: ${verdict.error.message}` };
    const { spec } = verdict;
    return { folder, index: read.index, entries: spec.entries.map((entry) => formatEntry(entry, spec.maxRs)), heldListeners: heldListeners(context, spec), spec };
  } catch (error) {
    return { folder, index: 0, entries: [], heldListeners: 0, problem: (error as Error).message };
  }
}

/** One line for the hold of an emptied portmap (logs, `sync --dry-run`, `status`). */
export function describePortmapHold(status: PortmapStatus): string {
  return (
    `the portmap under ${status.folder} has no entry while HAProxy serves ${status.heldListeners} listener(s) rendered from it: ` +
    `they and their backends' slots stay as they are (fail static) until the folder has entries again or 'sync --allow-mass-removal' is run`
  );
}
