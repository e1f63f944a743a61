// The rendered portmap on disk: the configuration file HAProxy loads (a `-f`
// of its unit) and the route maps its frontends read. Written as HAProxy must
// find them at its next reload: every file whole (a temporary file renamed
// over it), the maps before the configuration that names them.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { RenderedLoadBalancer } from "../portmap/render.js";

export interface LbPaths {
  configFile: string;
  mapDirectory: string;
}

/** A file's text, or undefined when it is not there (or cannot be read). */
export function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** Whether the files on disk hold exactly this rendering (nothing to write, no reload). */
export function matchesDisk(rendered: RenderedLoadBalancer, paths: LbPaths): boolean {
  if (readIfThere(paths.configFile) !== rendered.config) return false;
  return [...rendered.maps].every(([name, content]) => readIfThere(join(paths.mapDirectory, name)) === content);
}

/**
 * Writes `content` to `file` whole: a reader sees the old file or the new one,
 * never a part. The file is new (created with `mode`, never wider whatever the
 * umask), not an earlier temporary's with its mode. The temporary's name
 * starts with a dot: HAProxy skips hidden files when it loads a `crt
 * <directory>`, so one left by a crash is never loaded as a certificate.
 */
export function writeWhole(file: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = join(dirname(file), `.${basename(file)}.tmp.${process.pid}`);
  rmSync(temporary, { force: true });
  try {
    writeFileSync(temporary, content, { mode, flag: "wx" });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** The maps, in place (the running HAProxy read its maps at its start and does not read them again). */
export function writeMaps(rendered: RenderedLoadBalancer, paths: LbPaths): void {
  for (const [name, content] of rendered.maps) writeWhole(join(paths.mapDirectory, name), content);
}

/** The configuration beside its place, for `haproxy -c` before it is moved in. */
export function stagedConfigFile(configFile: string): string {
  return `${configFile}.next`;
}

/** The rendered portmap before its filled slots are written in: what decides whether HAProxy needs a reload. */
export function templateFileOf(configFile: string): string {
  return `${configFile}.in`;
}

/** How many listeners the rendered portmap on disk (its template) has: what HAProxy serves from it now. */
export function countRenderedListeners(configFile: string): number {
  return (readIfThere(templateFileOf(configFile)) ?? "").match(/^frontend /gm)?.length ?? 0;
}
