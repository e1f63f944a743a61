// Desired state: Consul's answers turned into validated endpoints. Every
// entry goes through the node-settings validation here, once per answer, so
// nothing from Consul reaches the planner (or the admin socket) unchecked.
import type { Logger } from "../log.js";
import type { Endpoint } from "../planner/model.js";
import type { ServiceSnapshot } from "./consul-source.js";
import { endpointFromEntry, type Rejection } from "./node-settings.js";

/** A node left out before planning (invalid settings or a malformed entry), with the selection it came from. */
export interface RejectedNode extends Rejection {
  /** selectionKey() of the service it was read for: it is missing from that service's backends. */
  service: string;
}

export interface DesiredState {
  endpoints: Endpoint[];
  rejected: RejectedNode[];
}

/** Validates every entry; a bad one is left out and logged, the rest go on. */
export function endpointsFromSnapshots(snapshots: readonly ServiceSnapshot[], logger: Logger): DesiredState {
  const endpoints: Endpoint[] = [];
  const rejected: RejectedNode[] = [];
  for (const snapshot of snapshots) {
    for (const reason of snapshot.malformed) {
      logger.warn("malformed Consul entry left out", { service: snapshot.service, reason });
      rejected.push({ service: snapshot.key, serviceId: "(malformed entry)", key: "entry", value: "", reason });
    }
    for (const entry of snapshot.entries) {
      const result = endpointFromEntry(entry);
      if (result.ok) {
        // Backends are matched by selection (name, tag, filter), not by the name alone.
        result.endpoint.serviceName = snapshot.key;
        endpoints.push(result.endpoint);
        for (const warning of result.warnings) logger.warn(`setting ignored: ${warning}`, { serviceId: result.endpoint.serviceId });
      } else {
        rejected.push({ ...result.rejection, service: snapshot.key });
        logger.warn("node left out: invalid setting", { ...result.rejection });
      }
    }
  }
  return { endpoints, rejected };
}

/** Several services' desired states as one. */
export function mergeDesired(states: readonly DesiredState[]): DesiredState {
  return { endpoints: states.flatMap((state) => state.endpoints), rejected: states.flatMap((state) => state.rejected) };
}
