// What every reconcile works with: the config, the logger, the clients of
// both sides and the planner's policy. Built once per process (and again on
// a config reload of `run`); closeContext() lets go of every connection.
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { RuntimeApiClient } from "../haproxy-runtime-api/index.js";
import { ConsulClient } from "../source/consul-http.js";
import { ConsulKv } from "../source/consul-kv.js";
import { ConsulSource } from "../source/consul-source.js";
import { PromotionStore } from "../source/promotion.js";
import type { PlannerPolicy } from "../planner/model.js";
import { policyFromConfig } from "./policy.js";
import { portmapBackends, watchedSelections } from "./portmap-policy.js";
import type { ServiceSelection } from "../planner/selection.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";

export interface HandlerContext {
  config: HandlerConfig;
  logger: Logger;
  consul: ConsulSource;
  haproxy: RuntimeApiClient;
  policy: PlannerPolicy;
  /** The operator's promoted versions (Consul KV), for services with versioning. */
  promotions: PromotionStore;
  /** Consul's KV store over the same connection (the load balancer's portmap). */
  kv: ConsulKv;
  /** The services a full read covers: the config's and the managed portmap's, each selection once. */
  selections: ServiceSelection[];
}

/** `portmap`: the load balancer's portmap that `run` applies (lb.enabled); its backends join the policy. */
export function createContext(config: HandlerConfig, logger: Logger, portmap?: LoadBalancerSpec): HandlerContext {
  // One connection setup to Consul: the health reads, the promoted versions and the portmap share it.
  const consul = new ConsulClient(config.consul);
  return {
    config,
    logger,
    consul: new ConsulSource(config.consul, consul),
    haproxy: new RuntimeApiClient(config.haproxy.socket, { timeoutMs: config.haproxy.timeoutMs }),
    policy: policyFor(config, portmap),
    promotions: new PromotionStore(config.consul, consul),
    kv: new ConsulKv(config.consul, consul),
    selections: watchedSelections(config, portmap),
  };
}

/** Closes the kept HAProxy connection and the Consul connections; a request in flight fails. */
export function closeContext(context: HandlerContext): void {
  context.haproxy.closeKept();
  context.consul.close();
  context.promotions.close();
}

/** The planner's policy: the config's backends, and the portmap's when one is managed. */
export function policyFor(config: HandlerConfig, portmap: LoadBalancerSpec | undefined): PlannerPolicy {
  const policy = policyFromConfig(config);
  return portmap === undefined ? policy : { ...policy, backends: [...policy.backends, ...portmapBackends(portmap)] };
}
