// The portmap into the running HAProxy (lb.render): rendered, written where
// HAProxy loads it, checked with `haproxy -c` over the whole configuration,
// and a reload asked of the master, only when the rendering differs from the
// template on disk (`<configFile>.in`: so a restart of the handler, or a
// change only `run` sees, never reloads). The file HAProxy loads is the
// template with every filled slot written out, kept current after each
// reconcile as the slots file is (reconcile/reconcile.ts), so that a reload
// finds every node in its slot: HAProxy's server-state file restores states
// and weights, not the addresses of template slots. Any step that fails leaves
// the configuration HAProxy loads as it was: the maps are put back, the staged
// file is not moved in.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { LoadBalancerConfig } from "../config/config.js";
import { renderLoadBalancer, type RenderedLoadBalancer } from "../portmap/render.js";
import { commands, RuntimeApiError, type CommandReply, type RuntimeCommand } from "../haproxy-runtime-api/index.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import { compareRenderings, renderingDiff, type PortmapChange } from "../portmap/change.js";
import { matchesDisk, readIfThere, stagedConfigFile, templateFileOf, writeMaps, writeWhole } from "./files.js";
import { checkConfiguration } from "./haproxy-check.js";
import { reloadHaproxy, type WorkerSocket } from "./master-reload.js";
import { renderSlotsFile } from "../slots-file/render.js";
import type { Slot } from "../planner/model.js";

export type LbApplied = { kind: "unchanged" } | { kind: "routes"; maps: string[] } | { kind: "reloaded"; pid: number; previousPid: number };

/** The dynamic cookies' secret: read, or created once (0600) so that sticky sessions survive restarts. */
export function cookieKey(file: string): string {
  // writeWhole creates the directory.
  if (!existsSync(file)) writeWhole(file, `${randomBytes(24).toString("hex")}\n`, 0o600);
  const key = readFileSync(file, "utf8").trim();
  if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new Error(`${file} does not hold a usable cookie key (letters, digits, . _ - only); delete it and a new one is created (sticky sessions start over once)`);
  return key;
}

/** What the apply needs of HAProxy: who answers, its server state, and its slots now (for the portmap's backends). */
export interface LbHaproxy extends WorkerSocket {
  /** The slots of these backends as HAProxy has them now (a backend it has not loaded: none). */
  slots(): Promise<Slot[]>;
  /** Backend -> the slot prefixes the handler owns there, with the portmap's backends. */
  managed: ReadonlyMap<string, readonly string[]>;
  /** Runtime commands on one connection, with HAProxy's replies (the maps of a route change). */
  execute(commands: readonly RuntimeCommand[]): Promise<CommandReply[]>;
}

/**
 * Renders `spec`; when that differs from the template on disk, writes the
 * maps and the configuration with every filled slot written out (as the slots
 * file does: a reload keeps each node in its slot), checks it, moves it in and
 * asks the master to reload.
 */
export async function applyLoadBalancer(spec: LoadBalancerSpec, lb: LoadBalancerConfig, haproxy: LbHaproxy, timeoutMs: number, challengeServer?: string): Promise<LbApplied> {
  const paths = { configFile: templateFileOf(lb.configFile), mapDirectory: lb.mapDirectory };
  const rendered = renderWith(spec, lb, cookieKey(lb.cookieKeyFile), challengeServer);
  if (matchesDisk(rendered, paths)) return { kind: "unchanged" };
  if (readIfThere(paths.configFile) === rendered.config) return { kind: "routes", maps: await swapMaps(rendered, lb.mapDirectory, haproxy) };
  const withSlots = renderSlotsFile(rendered.config, await haproxy.slots(), haproxy.managed, templateFileOf(lb.configFile));
  const previousMaps = new Map([...rendered.maps.keys()].map((name) => [name, readIfThere(join(lb.mapDirectory, name))]));
  const staged = stagedConfigFile(lb.configFile);
  try {
    writeMaps(rendered, paths);
    writeWhole(staged, withSlots);
    await checkConfiguration(lb.haproxyBinary, [...lb.checkWith, staged]);
  } catch (error) {
    // HAProxy reads its maps at a reload: leave the ones it would read with the configuration on disk.
    for (const [name, content] of previousMaps) {
      const file = join(lb.mapDirectory, name);
      if (content === undefined) rmSync(file, { force: true });
      else writeWhole(file, content);
    }
    rmSync(staged, { force: true });
    throw error;
  }
  writeWhole(paths.configFile, rendered.config);
  renameSync(staged, lb.configFile);
  const reloaded = await reloadHaproxy({ masterSocket: lb.masterSocket, serverStateFile: lb.serverStateFile, timeoutMs }, haproxy);
  return { kind: "reloaded", ...reloaded };
}

function renderWith(spec: LoadBalancerSpec, lb: LoadBalancerConfig, dynamicCookieKey: string, challengeServer: string | undefined): RenderedLoadBalancer {
  return renderLoadBalancer(spec, {
    bindAddress: lb.bindAddress,
    certDirectory: lb.certDirectory,
    caFile: lb.caFile,
    mapDirectory: lb.mapDirectory,
    dynamicCookieKey,
    ...(challengeServer === undefined ? {} : { acmeChallengeServer: challengeServer }),
  });
}

/**
 * Where the rendered http listeners send ACME challenges: the handler's own
 * listener (run.listen) as configured, so that `run` and the CLI render the
 * same text. None without a listener, or with port 0 (a port only `run` knows).
 */
export function acmeChallengeServer(listen: string | undefined): string | undefined {
  if (listen === undefined || /:0$/.test(listen)) return undefined;
  return listen;
}

/**
 * What applying `spec` would do to the files HAProxy loads (`sync --dry-run`),
 * without writing anything: `membership` when HAProxy has this rendering,
 * `routes` with the map files to swap, `reload` with the sections that differ;
 * `diff`: their lines added and removed.
 */
export function previewLoadBalancer(spec: LoadBalancerSpec, lb: LoadBalancerConfig, challengeServer?: string): PortmapChange & { diff: string[] } {
  // A secret not created yet would be created at the render; any placeholder shows the same sections.
  const key = readIfThere(lb.cookieKeyFile)?.trim() || "not-created-yet";
  const next = renderWith(spec, lb, key, challengeServer);
  // The maps this rendering names (files of removed listeners are left on disk and read by nothing).
  const onDisk = new Map([...next.maps.keys()].flatMap((name) => {
    const content = readIfThere(join(lb.mapDirectory, name));
    return content === undefined ? [] : [[name, content] as const];
  }));
  const current = { config: readIfThere(templateFileOf(lb.configFile)) ?? "", maps: onDisk };
  const change = compareRenderings(current, next);
  return { ...change, diff: renderingDiff(current, next, change) };
}

/**
 * Only routes changed (the same configuration, other maps): each changed map
 * is swapped in the running HAProxy (prepare, every line in file order,
 * commit: requests see the old map or the new one, never a part) and then
 * written to disk for the next reload. No reload, no new worker.
 */
async function swapMaps(rendered: RenderedLoadBalancer, mapDirectory: string, haproxy: Pick<LbHaproxy, "execute">): Promise<string[]> {
  const changed = [...rendered.maps].filter(([name, content]) => readIfThere(join(mapDirectory, name)) !== content);
  for (const [name, content] of changed) {
    const file = join(mapDirectory, name);
    const [prepared] = await haproxy.execute([commands.prepareMap(file)]);
    const version = Number(/New version created: (\d+)/.exec(prepared?.output ?? "")?.[1]);
    if (!prepared?.ok || !Number.isInteger(version)) throw new RuntimeApiError(`HAProxy refused 'prepare map ${file}': ${prepared?.output.trim() ?? "no answer"}; reload HAProxy with the portmap on disk`);
    const entries = content.split("\n").filter((line) => line.trim() !== "").map((line) => line.split(" ") as [string, string]);
    const replies = await haproxy.execute([...entries.map(([key, backend]) => commands.addMapEntry(version, file, key, backend)), commands.commitMap(version, file)]);
    const refused = replies.find((reply) => !reply.ok);
    // Not committed: the running map stays as it was.
    if (refused) throw new RuntimeApiError(`HAProxy refused '${refused.command}': ${refused.output.trim()}; the running routes of ${file} are unchanged`);
    writeWhole(file, content);
  }
  return changed.map(([name]) => name);
}
