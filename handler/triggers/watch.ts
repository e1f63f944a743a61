// The `watch` trigger: what a Consul watch (handler_type: script) runs on
// every change. The payload on stdin only says "something changed": by the
// time this process holds the lock, newer changes may have happened (and
// concurrent runs may finish out of order), so the payload is never applied.
// Each run re-reads Consul under the lock and reconciles from that fresh view.
import type { Logger } from "../log.js";
import { withLock } from "../reconcile/lock.js";
import type { HandlerContext } from "../reconcile/context.js";
import { reconcileWith, type ReconcileOutcome } from "../reconcile/reconcile.js";
import { endpointsFromSnapshots } from "../source/desired.js";
import type { ServiceSnapshot } from "../source/consul-source.js";

export type WatchPayloadKind = "service" | "checks" | "services" | "empty";

/** Recognises the watch type from its payload; anything else is refused. */
export function classifyPayload(text: string): WatchPayloadKind {
  const trimmed = text.trim();
  if (trimmed === "") return "empty";
  let payload: unknown;
  try {
    payload = JSON.parse(trimmed);
  } catch {
    throw new Error("the watch payload on stdin is not JSON; run this command from a Consul watch (type service, checks or services), or with no input");
  }
  if (payload === null) return "empty";
  if (Array.isArray(payload)) {
    const first: unknown = payload[0];
    if (first === undefined) return "service";
    if (typeof first === "object" && first !== null && "Service" in first) return "service";
    if (typeof first === "object" && first !== null && "CheckID" in first) return "checks";
    throw new Error("the watch payload is a list of neither health entries nor checks; use watch type service, checks or services");
  }
  if (typeof payload === "object") return "services";
  throw new Error("the watch payload is neither a list nor a map; use watch type service, checks or services");
}

/** Reads a fresh view, and re-reads while it is older than the event that started us. */
async function freshSnapshots(context: HandlerContext, eventIndex: number | undefined, logger: Logger): Promise<ServiceSnapshot[]> {
  const names = context.selections;
  for (let attempt = 1; ; attempt += 1) {
    const snapshots = await context.consul.readServices(names);
    const newest = Math.max(...snapshots.map((snapshot) => snapshot.index));
    if (eventIndex === undefined || newest >= eventIndex) return snapshots;
    if (attempt >= 5) throw new Error(`Consul's answer (index ${newest}) is older than the watch event (index ${eventIndex}) after ${attempt} reads; is this agent lagging behind the servers?`);
    logger.debug("Consul view older than the event, reading again", { newest, eventIndex });
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
  }
}

export async function runWatch(context: HandlerContext, payload: string, environment: NodeJS.ProcessEnv): Promise<ReconcileOutcome> {
  const kind = classifyPayload(payload);
  const indexText = environment["CONSUL_INDEX"];
  // Only a `service` watch's index is comparable with the health reads' index;
  // `checks` and `services` indexes count changes we do not read.
  const eventIndex = kind === "service" && indexText && /^\d+$/.test(indexText) ? Number(indexText) : undefined;
  context.logger.debug("watch event", { kind, consulIndex: eventIndex });
  return withLock(context.config.lockFile, async () => {
    const snapshots = await freshSnapshots(context, eventIndex, context.logger);
    return reconcileWith(context, endpointsFromSnapshots(snapshots, context.logger));
  });
}
