// Renders the slots file: the operator's backends template (valid HAProxy
// configuration with `server-template` lines) with every filled slot of a
// managed prefix written out as an explicit `server` line, so that a reload
// or restart of HAProxy finds each node in its slot, with its weight and
// maxconn. HAProxy's server-state file alone cannot do this: it restores a
// template slot's port, weight and admin state but not its address
// (HAProxy issue #3265), nor maxconn.
//
// Pure: template text + slots in, configuration text out.
//
// - Servers keep their names and their order (so their auto-assigned ids):
//   the state file is matched by backend + server name and restores the
//   operational state (a slot that was UP is UP at once, no `rise` wait).
// - Free slots stay template ranges (`server-template irisrv 4-9 ...`),
//   with the template's own keywords (`disabled` included).
// - A filled slot gets the template's keywords without those its settings
//   write (planner/slot-settings.ts: `weight`, `maxconn`, `disabled`), then
//   each setting's own: `weight`, `maxconn` when set, `disabled` for a slot
//   in maintenance.
// - Slots added at runtime beyond a template's range (`grow`) follow the
//   prefix's last template line, with that line's keywords.
import type { Slot } from "../planner/model.js";
import { SETTINGS } from "../planner/slot-settings.js";

const SECTION = /^\s*(global|defaults|frontend|backend|listen|peers|resolvers|userlist|cache|program|http-errors|ring|mailers|crt-store|traces)(?=\s|$)(\s+(\S+))?/;
const SERVER_TEMPLATE = /^(\s*)server-template\s+(\S+)\s+(\S+)\s+(\S+)(.*)$/;
/** Template keywords a filled slot's settings replace: word -> whether a value follows it. */
const REPLACED_KEYWORDS = new Map(SETTINGS.flatMap((entry) => entry.slotsFile?.replaces ?? []).map(({ word, takesValue }) => [word, takesValue]));

export class SlotsTemplateError extends Error {
  constructor(line: number, message: string) {
    super(`slots template, line ${line}: ${message}`);
    this.name = "SlotsTemplateError";
  }
}

/** `5` means 1-5; `3-7` means 3 to 7. */
export function parseTemplateRange(text: string): { first: number; last: number } | undefined {
  const match = /^(\d{1,7})(?:-(\d{1,7}))?$/.exec(text);
  if (!match) return undefined;
  const first = match[2] === undefined ? 1 : Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  if (first < 1 || last < first) return undefined;
  return { first, last };
}

function filledKeywords(templateKeywords: string[], slot: Slot): string {
  const kept: string[] = [];
  for (let index = 0; index < templateKeywords.length; index += 1) {
    const word = templateKeywords[index] ?? "";
    const takesValue = REPLACED_KEYWORDS.get(word);
    if (takesValue === undefined) kept.push(word);
    else if (takesValue) index += 1;
  }
  for (const entry of SETTINGS) kept.push(...(entry.slotsFile?.write(slot) ?? []));
  return kept.join(" ");
}

function target(slot: Slot): string {
  const address = slot.address ?? "0.0.0.0";
  return address.includes(":") ? `[${address}]:${slot.port ?? 0}` : `${address}:${slot.port ?? 0}`;
}

function serverLine(indent: string, slot: Slot, templateKeywords: string[]): string {
  return `${indent}server ${slot.name} ${target(slot)} ${filledKeywords(templateKeywords, slot)}`.trimEnd();
}

interface TemplateLine {
  indent: string;
  prefix: string;
  first: number;
  last: number;
  address: string;
  keywords: string[];
}

function renderTemplateLine(line: TemplateLine, filled: ReadonlyMap<number, Slot>): string[] {
  const out: string[] = [];
  const keywordText = line.keywords.length > 0 ? ` ${line.keywords.join(" ")}` : "";
  let freeFrom: number | undefined;
  const flushFree = (upTo: number): void => {
    if (freeFrom === undefined) return;
    out.push(`${line.indent}server-template ${line.prefix} ${freeFrom}-${upTo} ${line.address}${keywordText}`);
    freeFrom = undefined;
  };
  for (let number = line.first; number <= line.last; number += 1) {
    const slot = filled.get(number);
    if (slot) {
      flushFree(number - 1);
      out.push(serverLine(line.indent, slot, line.keywords));
    } else if (freeFrom === undefined) {
      freeFrom = number;
    }
  }
  flushFree(line.last);
  return out;
}

/**
 * @param template the backends template (HAProxy configuration text)
 * @param slots the managed slots as HAProxy reports them now
 * @param managed backend -> the slot prefixes the handler owns there
 * @param source named in the header comment (the template's path)
 */
export function renderSlotsFile(template: string, slots: readonly Slot[], managed: ReadonlyMap<string, readonly string[]>, source: string): string {
  // backend -> prefix -> number -> slot, for slots that have an address.
  const filled = new Map<string, Map<string, Map<number, Slot>>>();
  for (const slot of slots) {
    if (slot.address === undefined || slot.port === undefined) continue;
    const byPrefix = filled.get(slot.backend) ?? new Map<string, Map<number, Slot>>();
    const byNumber = byPrefix.get(slot.prefix) ?? new Map<number, Slot>();
    byNumber.set(slot.number, slot);
    byPrefix.set(slot.prefix, byNumber);
    filled.set(slot.backend, byPrefix);
  }

  // A template saved with CRLF line ends is read line by line all the same
  // (a server-template line ending in \r would not match and keep its
  // filled slots out of the file); the file is written with LF.
  const lines = template.split(/\r?\n/);
  // Where each prefix's last template line is, so grown slots follow it.
  const lastTemplateLine = new Map<string, { index: number; line: TemplateLine }>();
  const parsed = new Map<number, TemplateLine>();
  let backend: string | undefined;
  lines.forEach((text, index) => {
    const section = SECTION.exec(text);
    if (section) backend = section[1] === "backend" || section[1] === "listen" ? section[3] : undefined;
    const match = SERVER_TEMPLATE.exec(text.replace(/\s+#.*$/, ""));
    if (!match || backend === undefined) return;
    const prefix = match[2] ?? "";
    if (!(managed.get(backend) ?? []).includes(prefix)) return;
    const range = parseTemplateRange(match[3] ?? "");
    if (!range) throw new SlotsTemplateError(index + 1, `'${match[3] ?? ""}' is not a server-template range (N or FIRST-LAST)`);
    const line: TemplateLine = { indent: match[1] ?? "    ", prefix, first: range.first, last: range.last, address: match[4] ?? "", keywords: (match[5] ?? "").trim().split(/\s+/).filter((word) => word !== "") };
    parsed.set(index, line);
    lastTemplateLine.set(`${backend}/${prefix}`, { index, line });
  });

  // Slots numbered outside every template range of their prefix (added by `grow`).
  const covered = (backendName: string, prefix: string, number: number): boolean =>
    [...parsed.entries()].some(([index, line]) => line.prefix === prefix && line.first <= number && number <= line.last && backendOf(lines, index) === backendName);

  const out: string[] = [`# Generated by consul-haproxy-handler from ${source}; edit that file, not this one.`, "# Filled slots are written out so that a reload or restart of HAProxy keeps every node in its slot."];
  lines.forEach((text, index) => {
    const line = parsed.get(index);
    if (!line) {
      out.push(text);
      return;
    }
    const backendName = backendOf(lines, index) ?? "";
    const byNumber = filled.get(backendName)?.get(line.prefix) ?? new Map<number, Slot>();
    out.push(...renderTemplateLine(line, byNumber));
    if (lastTemplateLine.get(`${backendName}/${line.prefix}`)?.index === index) {
      const grown = [...byNumber.values()].filter((slot) => !covered(backendName, line.prefix, slot.number)).sort((a, b) => a.number - b.number);
      for (const slot of grown) out.push(serverLine(line.indent, slot, line.keywords));
    }
  });
  return out.join("\n");
}

function backendOf(lines: readonly string[], index: number): string | undefined {
  for (let position = index; position >= 0; position -= 1) {
    const section = SECTION.exec(lines[position] ?? "");
    if (section) return section[1] === "backend" || section[1] === "listen" ? section[3] : undefined;
  }
  return undefined;
}
