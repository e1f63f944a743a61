// Semantic versions (semver.org) as nodes announce them: parsing and
// precedence. Pure; the planner's versioning (versions.ts), the per-node
// `version` key (source/setting-keys.ts) and `promote` use it.

export interface Semver {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated pre-release identifiers; empty for a release. */
  prerelease: string[];
}

const IDENTIFIER = "(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)";
const NUMBER = "(0|[1-9]\\d{0,8})";
/** semver.org's grammar without build metadata, numbers bounded so they stay exact. */
const SEMVER = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-(${IDENTIFIER}(?:\\.${IDENTIFIER})*))?$`);
export const MAX_VERSION_LENGTH = 64;

export function parseVersion(text: string): Semver | undefined {
  if (text.length > MAX_VERSION_LENGTH) return undefined;
  const match = SEMVER.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), prerelease: match[4] ? match[4].split(".") : [] };
}

function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^\d+$/.test(a);
  const bNumeric = /^\d+$/.test(b);
  if (aNumeric && bNumeric) return Number(a) - Number(b);
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semantic-version precedence: negative when a is older. */
export function compareVersions(a: Semver, b: Semver): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return core;
  // A pre-release is older than its release.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length;
  for (let index = 0; index < Math.min(a.prerelease.length, b.prerelease.length); index += 1) {
    const order = compareIdentifiers(a.prerelease[index] ?? "", b.prerelease[index] ?? "");
    if (order !== 0) return order;
  }
  return a.prerelease.length - b.prerelease.length;
}
