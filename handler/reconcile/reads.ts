// The reads a reconcile starts from, one function per side: Consul's health
// view (desired), the promoted versions (Consul KV) and HAProxy's slots
// (actual). `status` and `check-config` read the same way.
import type { Slot } from "../planner/model.js";
import { selectionKey } from "../planner/selection.js";
import { endpointsFromSnapshots, type DesiredState } from "../source/desired.js";
import { readSlotsIn } from "../haproxy-state/reader.js";
import type { HandlerContext } from "./context.js";

/** Services with versioning on (Consul names, each once): only these need their promoted version read. */
export function versionedServices(context: HandlerContext): string[] {
  return [...new Set(context.config.services.filter((service) => service.versioning).map((service) => service.name))];
}

/**
 * Reads the promoted versions (fail static: a KV error throws ConsulUntrusted,
 * HAProxy untouched), keyed like the planner's backends: by selectionKey().
 * A promotion is kept under the plain service name, so it applies to every
 * selection (tag, filter) of that service.
 */
export async function readPromoted(context: HandlerContext): Promise<Map<string, string>> {
  const services = versionedServices(context);
  if (services.length === 0) return new Map();
  const read = await context.promotions.read(services);
  for (const { service, value } of read.invalid) {
    context.logger.warn("promoted version in Consul KV is not a version; ignored", { service, value, fix: `consul-haproxy-handler promote ${service} <version> (or --clear)` });
  }
  const bySelection = new Map<string, string>();
  for (const service of context.config.services) {
    const version = read.promoted.get(service.name);
    if (service.versioning && version !== undefined) bySelection.set(selectionKey(service), version);
  }
  return bySelection;
}

export async function readDesired(context: HandlerContext): Promise<DesiredState> {
  const snapshots = await context.consul.readServices(context.selections);
  return endpointsFromSnapshots(snapshots, context.logger);
}

export function readSlots(context: HandlerContext): Promise<Slot[]> {
  return context.haproxy.session((session) => readSlotsIn(session, context.policy));
}

