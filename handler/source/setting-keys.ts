// The per-node settings a node sets on its registration (service Meta
// `haproxy_<key>`, tag `haproxy.<key>=<value>`, node Meta), as one table:
// each key, where it takes effect, the NodeSettings field it fills and the
// parser that checks its text. Adding a key is one entry here, its tests,
// and its row in README's "Per-node settings" table (a unit test compares
// the two). The compiler refuses an entry without a parser, a parser whose
// value does not fit its field, and a NodeSettings field no key fills.
import { describeRange, isWithin, MAXCONN, WEIGHT, type WholeNumberRange } from "../haproxy-runtime-api/index.js";
import { TIMEOUT_CLASS_PATTERN, TIMEOUT_CLASS_RULE } from "../config/config.js";
import type { NodeSettings, PowMode, Scheme } from "../planner/model.js";
import { parseVersion } from "../planner/semver.js";

/** Where a setting takes effect (README's "applies to" column). */
export type SettingScope = "default backend" | "PoW backend" | "both backends" | "slot class" | "versioning";

export type SettingParse<T> = { ok: true; value: T } | { ok: false; reason: string };

/** One per-node key: the field it fills, where that matters, and how its text is read. */
export interface KeySpec<F extends keyof NodeSettings> {
  readonly field: F;
  readonly appliesTo: SettingScope;
  /** Reads the text from Meta or a tag; a failure's reason says what is expected. */
  readonly parse: (text: string) => SettingParse<NonNullable<NodeSettings[F]>>;
}

/** Ties an entry's parser to its field's type (a whole number cannot fill `pow`). */
function key<F extends keyof NodeSettings>(spec: KeySpec<F>): KeySpec<F> {
  return Object.freeze(spec);
}

/** Digits only, as Meta and tags are text; the range check says the rest. */
const WHOLE_NUMBER = /^\d{1,7}$/;

function parseWholeNumber(text: string, range: WholeNumberRange): SettingParse<number> {
  const value = Number(text);
  if (!WHOLE_NUMBER.test(text) || !isWithin(value, range)) return { ok: false, reason: `expected ${describeRange(range)}` };
  return { ok: true, value };
}

function parseBoolean(text: string): SettingParse<boolean> {
  if (["true", "1", "yes", "on"].includes(text)) return { ok: true, value: true };
  if (["false", "0", "no", "off"].includes(text)) return { ok: true, value: false };
  return { ok: false, reason: "expected true or false (or 1/0)" };
}

function parsePow(text: string): SettingParse<PowMode> {
  if (text === "only") return { ok: true, value: "only" };
  const flag = parseBoolean(text);
  if (!flag.ok) return { ok: false, reason: "expected true, false or only" };
  return { ok: true, value: flag.value ? "true" : "false" };
}

function parseScheme(text: string): SettingParse<Scheme> {
  if (text === "http" || text === "https") return { ok: true, value: text };
  return { ok: false, reason: "expected http or https" };
}

function parseTimeoutClass(text: string): SettingParse<string> {
  if (!TIMEOUT_CLASS_PATTERN.test(text)) return { ok: false, reason: `expected ${TIMEOUT_CLASS_RULE}` };
  return { ok: true, value: text };
}

function parseVersionText(text: string): SettingParse<string> {
  if (!parseVersion(text)) return { ok: false, reason: "expected a semantic version MAJOR.MINOR.PATCH with an optional pre-release (1.4.2, 2.0.0-rc.1), at most 64 characters" };
  return { ok: true, value: text };
}

/** Every per-node key, in the order "known settings: ..." lists them. */
export const NODE_SETTING_KEYS = {
  pow: key({ field: "pow", appliesTo: "both backends", parse: parsePow }),
  maxconn: key({ field: "maxconn", appliesTo: "default backend", parse: (text) => parseWholeNumber(text, MAXCONN) }),
  pow_maxconn: key({ field: "powMaxconn", appliesTo: "PoW backend", parse: (text) => parseWholeNumber(text, MAXCONN) }),
  weight: key({ field: "weight", appliesTo: "both backends", parse: (text) => parseWholeNumber(text, WEIGHT) }),
  scheme: key({ field: "scheme", appliesTo: "slot class", parse: parseScheme }),
  sslverify: key({ field: "sslVerify", appliesTo: "slot class", parse: parseBoolean }),
  timeout: key({ field: "timeoutClass", appliesTo: "slot class", parse: parseTimeoutClass }),
  version: key({ field: "version", appliesTo: "versioning", parse: parseVersionText }),
} satisfies { readonly [name: string]: KeySpec<keyof NodeSettings> };

export type SettingKey = keyof typeof NODE_SETTING_KEYS;

/** Every key of NODE_SETTING_KEYS, in table order. */
export const SETTING_KEYS = Object.freeze(Object.keys(NODE_SETTING_KEYS) as SettingKey[]);

// Exhaustiveness, checked by the compiler: every NodeSettings field is filled
// by some key. A field added to NodeSettings without its key is an error
// here ("Type 'true' is not assignable to type '<the field>'").
type FieldsWithoutKey = Exclude<keyof NodeSettings, (typeof NODE_SETTING_KEYS)[SettingKey]["field"]>;
const everyFieldHasAKey: [FieldsWithoutKey] extends [never] ? true : FieldsWithoutKey = true;
void everyFieldHasAKey;

export function isSettingKey(text: string): text is SettingKey {
  return Object.hasOwn(NODE_SETTING_KEYS, text);
}

/** Parses `text` for `key` into `settings`; the reason when the text is not a valid value. */
export function applySetting(settings: NodeSettings, settingKey: SettingKey, text: string): string | undefined {
  return applySpec(settings, NODE_SETTING_KEYS[settingKey], text);
}

function applySpec<F extends keyof NodeSettings>(settings: NodeSettings, spec: KeySpec<F>, text: string): string | undefined {
  const parsed = spec.parse(text);
  if (!parsed.ok) return parsed.reason;
  settings[spec.field] = parsed.value;
  return undefined;
}
