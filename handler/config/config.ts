// The config module's public face: what other modules import. The parts
// live beside it: types.ts (what a read config holds), schema/ (one table
// per section: key, check, default, doc), load.ts (reading a file).
export type { ConsulConfig, GrowConfig, HaproxyConfig, HandlerConfig, LoadBalancerConfig, LogConfig, PolicyConfig, RunConfig, ServiceConfig, SlotClassConfig, SlotsFileConfig, VersioningConfig, WeightAndMaxconn } from "./types.js";
export { ConfigError } from "./config-error.js";
export { DEFAULT_CONFIG_PATH, loadConfig, validateConfig } from "./load.js";
export { normaliseConsulAddress } from "./consul-address.js";
export { filterProblem } from "./consul-filter.js";
export { isLoopbackListen } from "./schema/run.js";
export { TIMEOUT_CLASS_PATTERN, TIMEOUT_CLASS_RULE } from "./schema/services.js";
