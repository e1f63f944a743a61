// What a change of the portmap from one spec to the next needs. Routes live only
// in the map files and slots are filled over the admin socket, so the rendered
// configuration text itself tells it: the same text and the same maps is a
// membership change at most (nothing to render); the same text with other maps
// is a route change (runtime API: prepare/commit map, and the files); any other
// text needs a check and a reload.
import { renderLoadBalancer, type RenderedLoadBalancer, type RenderOptions } from "./render.js";
import type { LoadBalancerSpec } from "./spec.js";

export type ChangeKind = "membership" | "routes" | "reload";

export interface PortmapChange {
  kind: ChangeKind;
  /** The sections ("frontend pm_fe_80", "backend pm_80_web") or map files that differ. */
  changed: string[];
}

/** Fixed options: the comparison is of the specs, not of where files live. */
const COMPARISON_OPTIONS: RenderOptions = { bindAddress: "", certDirectory: "/certs", mapDirectory: "/maps", dynamicCookieKey: "key" };

export function classifyChange(before: LoadBalancerSpec, after: LoadBalancerSpec): PortmapChange {
  return compareRenderings(renderLoadBalancer(before, COMPARISON_OPTIONS), renderLoadBalancer(after, COMPARISON_OPTIONS));
}

/** What going from one rendering to the next needs (`sync --dry-run` compares the files on disk with the next one). */
export function compareRenderings(old: Pick<RenderedLoadBalancer, "config" | "maps">, next: Pick<RenderedLoadBalancer, "config" | "maps">): PortmapChange {
  const sections = differingKeys(sectionsOf(old.config), sectionsOf(next.config));
  if (sections.length > 0) return { kind: "reload", changed: sections };
  const maps = differingKeys(old.maps, next.maps);
  return maps.length > 0 ? { kind: "routes", changed: maps } : { kind: "membership", changed: [] };
}

/**
 * The lines a change adds and removes, per section or map file it names
 * (`sync --dry-run`): `<name>` then `- <line>` for each line only the old one
 * has and `+ <line>` for each line only the next one has, in their order.
 */
export function renderingDiff(old: Pick<RenderedLoadBalancer, "config" | "maps">, next: Pick<RenderedLoadBalancer, "config" | "maps">, change: PortmapChange): string[] {
  const [before, after] = change.kind === "reload" ? [sectionsOf(old.config), sectionsOf(next.config)] : [old.maps, next.maps];
  return change.changed.flatMap((name) => {
    const oldLines = (before.get(name) ?? "").split("\n").filter((line) => line.trim() !== "");
    const newLines = (after.get(name) ?? "").split("\n").filter((line) => line.trim() !== "");
    const [kept, added] = [new Set(newLines), new Set(oldLines)];
    return [name, ...oldLines.filter((line) => !kept.has(line)).map((line) => `- ${line}`), ...newLines.filter((line) => !added.has(line)).map((line) => `+ ${line}`)];
  });
}

/** Each section's header line -> its whole text. */
function sectionsOf(config: string): Map<string, string> {
  const sections = new Map<string, string>();
  for (const block of config.split("\n\n")) {
    const header = block.split("\n", 1)[0] ?? "";
    // The last section carries the file's final newline: a section is the same wherever it falls.
    if (!header.startsWith("#")) sections.set(header, block.trimEnd());
  }
  return sections;
}

function differingKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((key) => before.get(key) !== after.get(key)).sort();
}
