// `check-config`: the config is valid, Consul answers with a trustworthy
// view, HAProxy's admin socket answers at admin level, and every configured
// backend and slot prefix exists there. Each check prints one line.
import { accessSync, constants, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { HandlerContext } from "../reconcile/context.js";
import { readDesired, readPromoted, versionedServices } from "../reconcile/reads.js";
import { nodesLeftOut } from "./report.js";
import type { DesiredState } from "../source/desired.js";
import { planReconcile } from "../planner/plan.js";
import { managedPrefixes } from "../planner/selection.js";
import { slotsFromRuntime } from "../haproxy-state/slots.js";
import { isLoopbackListen } from "../config/config.js";
import { renderSlotsFile } from "../slots-file/render.js";
import { describeConnection } from "../source/consul-connection.js";
import type { CheckResult } from "./check-result.js";
import { checkPortmap } from "./portmap-check.js";

export async function checkConfig(context: HandlerContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ ok: true, what: "config", detail: `${context.config.services.length} service(s), ${context.policy.backends.length} backend(s)` }];
  const listen = context.config.run.listen;
  if (listen !== undefined && !isLoopbackListen(listen)) {
    // Only reachable with run.allowNonLoopback: true (the config refuses it otherwise).
    results.push({
      ok: true,
      what: "run.listen",
      detail: `${listen} is not loopback (run.allowNonLoopback: true): /healthz, /metrics and POST /watch have no authentication, so anyone who reaches the port can read the metrics and trigger reconciles; firewall it to your monitoring hosts`,
    });
  }

  // Each connection setting with where it came from (config > environment > default); never the token.
  for (const row of describeConnection(context.consul.connection)) {
    results.push({ ok: true, what: `consul.${row.key}`, detail: `${row.value} (from ${row.origin})` });
  }
  let desired: DesiredState | undefined;
  try {
    desired = await readDesired(context);
    results.push({ ok: true, what: "consul", detail: `${context.consul.connection.address.value}: ${desired.endpoints.length} valid instance(s), ${desired.rejected.length} left out for invalid settings` });
  } catch (error) {
    results.push({ ok: false, what: "consul", detail: (error as Error).message });
  }
  if (versionedServices(context).length > 0) {
    // A reconcile of a versioned service reads the promoted versions from KV.
    try {
      const promoted = await readPromoted(context);
      const listed = [...promoted].map(([service, version]) => `${service} ${version}`).join(", ");
      results.push({ ok: true, what: "consul kv", detail: `promoted versions readable${listed ? `: ${listed}` : " (none promoted)"}` });
    } catch (error) {
      results.push({ ok: false, what: "consul kv", detail: (error as Error).message });
    }
  }

  results.push(await checkPortmap(context));

  try {
    const info = await context.haproxy.showInfo();
    results.push({ ok: true, what: "haproxy", detail: `${context.config.haproxy.socket}: HAProxy ${info.version}, pid ${info.pid}` });
    // Reads work at every level; only `set server` needs admin, and would fail slot by slot.
    const level = await context.haproxy.showCliLevel();
    results.push(
      level === "admin"
        ? { ok: true, what: "haproxy level", detail: "admin" }
        : { ok: false, what: "haproxy level", detail: `${context.config.haproxy.socket} is at level ${level}; the handler needs level admin: point haproxy.socket at a 'stats socket ... level admin' (the playbook's unix socket)` },
    );
    // Unfiltered reads: a backend missing from HAProxy is a finding, not an error.
    const stats = await context.haproxy.showStat();
    const slots = slotsFromRuntime(await context.haproxy.showServersState(), stats, managedPrefixes(context.policy));
    const backendsPresent = new Set(stats.filter((row) => row.svname === "BACKEND").map((row) => row.pxname));
    for (const [backend, prefixes] of managedPrefixes(context.policy)) {
      if (!backendsPresent.has(backend)) {
        // A portmap backend HAProxy has not loaded yet is run's to render (lb.render): a new load
        // balancer joining a tier whose portmap is in KV starts that way.
        const rendersIt = context.config.lb.render && context.policy.backends.some((policy) => policy.backend === backend && policy.mayBeMissing === true);
        results.push(
          rendersIt
            ? { ok: true, warning: true, what: `backend ${backend}`, detail: "a portmap backend HAProxy has not loaded yet: run renders it into lb.configFile and reloads HAProxy" }
            : { ok: false, what: `backend ${backend}`, detail: "not found in HAProxy; check the backend names in the config against haproxy.cfg" },
        );
        continue;
      }
      for (const prefix of prefixes) {
        const count = slots.filter((slot) => slot.backend === backend && slot.prefix === prefix).length;
        results.push(
          count > 0
            ? { ok: true, what: `slots ${backend}/${prefix}`, detail: `${count} slot(s)` }
            : { ok: false, what: `slots ${backend}/${prefix}`, detail: `no server named ${prefix}<N>; add 'server-template ${prefix} 1-<N> 0.0.0.0:80 check disabled init-addr none' to backend ${backend}` },
        );
      }
    }
    // The nodes that would be missing from each backend, and why (the same list as status and sync --dry-run).
    if (desired) {
      for (const [backend, nodes] of nodesLeftOut(context.policy, desired.rejected, planReconcile(desired.endpoints, slots, context.policy))) {
        for (const node of nodes) results.push({ ok: true, warning: true, what: `node ${node.serviceId} left out of ${backend}`, detail: node.reason });
      }
    }
  } catch (error) {
    results.push({ ok: false, what: "haproxy", detail: (error as Error).message });
  }
  const slotsFile = context.config.haproxy.slotsFile;
  if (slotsFile) {
    try {
      renderSlotsFile(readFileSync(slotsFile.template, "utf8"), [], managedPrefixes(context.policy), slotsFile.template);
      // The file is replaced by a rename: the directory must be writable.
      accessSync(dirname(slotsFile.output), constants.W_OK);
      results.push({ ok: true, what: "slots file", detail: `${slotsFile.template} renders into ${slotsFile.output}` });
    } catch (error) {
      results.push({ ok: false, what: "slots file", detail: `${(error as Error).message}; a reload of HAProxy would put nodes in other slots until this is fixed` });
    }
  }
  return results;
}
