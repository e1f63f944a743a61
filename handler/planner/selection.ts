// Which Consul instances a backend serves, and which of its slots the handler
// owns: the names both sides of a reconcile match on. Endpoints carry the
// selection key they were read with (source/), backends carry the one of
// their service (reconcile/policy.ts); the slot reader (haproxy-state/) and
// the slots file read only the managed prefixes.
import type { PlannerPolicy } from "./model.js";

/**
 * Which instances of a Consul service to read: all of them, or those with a
 * tag (Consul's `?tag=`) and/or matching a filter expression (`?filter=`,
 * Consul >= 1.5).
 */
export interface ServiceSelection {
  name: string;
  tag?: string;
  filter?: string;
}

/** One string per distinct selection: the service name alone when nothing narrows it. */
export function selectionKey(selection: ServiceSelection): string {
  const parts: string[] = [];
  if (selection.tag !== undefined) parts.push(`tag=${selection.tag}`);
  if (selection.filter !== undefined) parts.push(`filter=${selection.filter}`);
  return parts.length === 0 ? selection.name : `${selection.name}?${parts.join("&")}`;
}

/** Backend -> the slot prefixes the handler owns in it. */
export function managedPrefixes(policy: PlannerPolicy): Map<string, string[]> {
  const managed = new Map<string, string[]>();
  for (const backend of policy.backends) {
    const prefixes = managed.get(backend.backend) ?? [];
    prefixes.push(...backend.classes.map((slotClass) => slotClass.prefix));
    managed.set(backend.backend, prefixes);
  }
  return managed;
}
