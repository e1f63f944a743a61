// `promote <service> <version>`: the operator's word on which generation
// serves. Written to Consul KV (so every handler, and a restarted one, reads
// it), then applied at once by a reconcile under the lock.
import { parseVersion } from "../planner/semver.js";
import { generationOf } from "../planner/versions.js";
import type { HandlerContext } from "../reconcile/context.js";
import { reconcile } from "../reconcile/reconcile.js";
import { reconcileResult, type ReconcileResult } from "../reconcile/result.js";
import { withLock } from "../reconcile/lock.js";
import { promotionKey } from "../source/promotion.js";
import { selectionKey } from "../planner/selection.js";

/** `usage`: the command line was wrong (exit 2); otherwise ok false means the reconcile failed (exit 1). */
export interface PromoteResult {
  ok: boolean;
  usage: boolean;
  message: string;
  /** The reconcile that applied it (exits as sync would), once there was one. */
  reconciled?: ReconcileResult;
}

export async function promote(context: HandlerContext, service: string, version: string | undefined, options: { clear?: boolean } = {}): Promise<PromoteResult> {
  const named = context.config.services.filter((candidate) => candidate.name === service);
  if (named.length === 0) return { ok: false, usage: true, message: `service ${service} is not in the config; expected one of ${[...new Set(context.config.services.map((candidate) => candidate.name))].join(", ")}` };
  // One service may be selected several times (tags, filters); the promotion applies to each versioned selection.
  const configured = named.find((candidate) => candidate.versioning !== undefined) ?? named[0];
  if (!configured?.versioning) return { ok: false, usage: true, message: `service ${service} has no versioning section in the config; add 'versioning: {}' to it first` };
  if (options.clear) {
    if (version !== undefined) return { ok: false, usage: true, message: "give either a version or --clear, not both" };
    await context.promotions.clear(service);
  } else {
    if (version === undefined) return { ok: false, usage: true, message: "missing the version to promote (e.g. 1.4.0), or --clear" };
    if (!parseVersion(version)) return { ok: false, usage: true, message: `${JSON.stringify(version)} is not a version; expected MAJOR.MINOR.PATCH with an optional pre-release (1.4.0, 2.0.0-rc.1)` };
    await context.promotions.write(service, version);
  }
  const outcome = await withLock(context.config.lockFile, () => reconcile(context));
  // The planner keys its decisions by selection (iri?tag=live), the promotion by the plain name.
  const decision = outcome.plan.versions.find((candidate) => candidate.serviceName === selectionKey(configured));
  const serving = decision?.serving ?? "nothing";
  const reconciled = reconcileResult(outcome);
  if (options.clear) return { ok: reconciled !== "failed", reconciled, usage: false, message: `cleared ${promotionKey(service)}; ${service} is served by ${serving}` };
  const wanted = generationOf(version, configured.versioning.compatible).label;
  const note = decision?.promoted === version ? "" : ` (generation ${wanted} has no healthy instance: the promotion waits in ${promotionKey(service)} until it has one)`;
  return { ok: reconciled !== "failed", reconciled, usage: false, message: `promoted ${service} ${version}; ${service} is served by ${serving}${note}` };
}
