// Writes a LoadBalancerSpec back as the KV keys it was parsed from, in canonical
// form (defaults left out): what `status` can show, and what the round-trip
// property test feeds back into the parser.
import { DEFAULT_ACME_DIRECTORY, DEFAULT_BALANCE, DEFAULT_METRICS_PORT, DEFAULT_TIMEOUTS, type LoadBalancerSpec, type PortmapEntry, type PortmapKey } from "./spec.js";

export function formatEntry(entry: PortmapEntry, maxRs: number): string {
  const options: string[] = [];
  if (entry.check.path !== undefined) options.push(`check:${entry.check.path}`);
  if (entry.check.port !== undefined) options.push(`port:${entry.check.port}`);
  if (entry.check.rise !== undefined) options.push(`rise:${entry.check.rise}`);
  if (entry.check.fall !== undefined) options.push(`fall:${entry.check.fall}`);
  if (entry.check.interMs !== undefined) options.push(`inter:${entry.check.interMs}ms`);
  if (entry.balance !== DEFAULT_BALANCE) options.push(`balance:${entry.balance}`);
  if (entry.sticky !== undefined) options.push(`sticky:${entry.sticky}`);
  if (entry.host !== undefined) options.push(`host:${entry.host}`);
  if (entry.path !== undefined) options.push(`path:${entry.path}`);
  if (entry.upgradeWebsocket) options.push("upgrade:websocket");
  if (entry.slots !== maxRs) options.push(`slots:${entry.slots}`);
  if (entry.health !== "passing") options.push(`health:${entry.health}`);
  const port = entry.servicePort === undefined ? "" : `:${entry.servicePort}`;
  return `${entry.type}://${entry.listenPort}:${entry.service}${port}${options.length > 0 ? `{${options.join(",")}}` : ""}`;
}

export function formatPortmapKv(spec: LoadBalancerSpec): Map<PortmapKey, string> {
  const kv = new Map<PortmapKey, string>();
  kv.set("portmap", spec.entries.map((entry) => formatEntry(entry, spec.maxRs)).join(","));
  kv.set("max_rs", String(spec.maxRs));
  const timeouts = (Object.keys(DEFAULT_TIMEOUTS) as (keyof typeof DEFAULT_TIMEOUTS)[])
    .filter((name) => spec.timeouts[name] !== DEFAULT_TIMEOUTS[name])
    .map((name) => `"${name}": ${spec.timeouts[name]}`);
  if (timeouts.length > 0) kv.set("timeouts", `{${timeouts.join(", ")}}`);
  if (spec.metrics.acl.length > 0) kv.set("metrics_acl", spec.metrics.acl.join(","));
  if (spec.metrics.port !== DEFAULT_METRICS_PORT) kv.set("metrics_port", String(spec.metrics.port));
  if (spec.syslog !== undefined) kv.set("syslog", `${spec.syslog.host}:${spec.syslog.port}`);
  if (spec.certificateNames.length > 0) kv.set("certificate_name", spec.certificateNames.join(","));
  if (spec.acme.directory !== DEFAULT_ACME_DIRECTORY) kv.set("acme_directory", spec.acme.directory);
  if (spec.acme.email !== undefined) kv.set("acme_email", spec.acme.email);
  if (spec.acme.caFile !== undefined) kv.set("acme_ca_file", spec.acme.caFile);
  return kv;
}
