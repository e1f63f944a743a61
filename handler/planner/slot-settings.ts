// The settings the handler keeps on a slot, as one table. Each entry names
// where its desired value comes from (the node's settings, the backend's
// defaults, the instance, its health), the Slot field HAProxy's value is read
// into, the operation that changes it, the runtime command builder that sends
// that operation (haproxy-runtime-api/commands.ts, by name: the planner
// imports only the planner), the columns HAProxy reports it in and how the
// slots file writes it. The planner, the slot reader, the cache, the applier,
// the slots-file renderer and `status` go over this table and treat every
// entry alike.
//
// A new per-server runtime setting is: its fields and its operation here plus
// its entry, its per-node key in source/setting-keys.ts, and its command
// builder in haproxy-runtime-api/commands.ts. The compiler refuses an entry
// whose builder does not exist (applier/commands-for-plan.ts) or whose
// operation has no entry (below).

/** The admin side of a slot, as HAProxy reports it. */
export type AdminState = "ready" | "drain" | "maint";

/** The part of a slot the handler sets: one field (address: two) per setting. */
export interface SlotSettingFields {
  /** Undefined when the slot never had an address (`init-addr none`) or has 0.0.0.0. */
  address?: string;
  port?: number;
  adminState: AdminState;
  weight: number;
  /** 0 means no limit. */
  maxconn: number;
}

/** A slot's settings before HAProxy's report is read into them (every entry but the address reads a value). */
export const UNREAD_SLOT_SETTINGS: Readonly<SlotSettingFields> = Object.freeze({ adminState: "maint", weight: 0, maxconn: 0 });

/** The per-node settings that set a slot's values. Unset means "the backend's default". */
export interface NodeSlotSettings {
  maxconn?: number;
  powMaxconn?: number;
  weight?: number;
}

/** A backend's values for nodes that set none. */
export interface BackendDefaults {
  weight: number;
  /** 0 = no limit. */
  maxconn: number;
}

/** One operation per setting, `set-<name>` with the setting's value. */
export type SettingOperation =
  | { kind: "set-addr"; address: string; port: number }
  | { kind: "set-weight"; weight: number }
  | { kind: "set-maxconn"; maxconn: number }
  | { kind: "set-state"; state: AdminState };

/** What a desired value is made from: one node in one backend (the planner fills it). */
export interface DesiredSource {
  address: string;
  port: number;
  /** The admin state the node's health asks for. */
  state: AdminState;
  settings: NodeSlotSettings;
  /** Which backend of the service: the PoW backend reads the node's pow_* settings. */
  role: "default" | "pow";
  defaults: BackendDefaults;
}

/** Where HAProxy reports a setting: `show servers state` or `show stat`, by column name. */
export interface ReportedIn {
  readonly command: "show servers state" | "show stat";
  readonly columns: readonly string[];
}

/** How the slots file writes a filled slot's value (`server` line keywords). */
export interface SlotsFileKeywords {
  /** Template keywords this setting replaces: taking a value (`weight 3`) or a bare flag (`disabled`). */
  readonly replaces: readonly { readonly word: string; readonly takesValue: boolean }[];
  readonly write: (slot: SlotSettingFields) => string[];
}

/** How `status` shows the value: a JSON field, a column, and `-` for `blankWhen`. */
export interface StatusColumn<F extends string> {
  readonly field: F;
  readonly header: string;
  readonly value: (slot: SlotSettingFields) => number;
  readonly blankWhen?: number;
}

export interface SlotSetting<Op extends SettingOperation, F extends string = never> {
  readonly kind: Op["kind"];
  /** Prepare (with the address, before anything takes traffic) or activate (state, once every prepare reply was a success). */
  readonly phase: "prepare" | "activate";
  /**
   * `always`: sent on every fill and never on an update (the address: it is
   * what makes the slot the node's, and the node's slot is found by it).
   * `when different`: sent on a fill and an update whenever the slot differs.
   */
  readonly send: "always" | "when different";
  readonly reportedIn: ReportedIn;
  /** The runtime command builder (`commands.<name>(backend, server, ...arguments)`). */
  readonly command: string;
  readonly status?: StatusColumn<F>;
  readonly slotsFile?: SlotsFileKeywords;
  /** The operation that sets what the node should have. */
  desired(source: DesiredSource): Op;
  /** The slot's value as that operation, undefined when the slot has none. */
  current(slot: SlotSettingFields): Op | undefined;
  /** What HAProxy accepting the operation did to the slot. */
  record(slot: SlotSettingFields, operation: Op): void;
  /** From HAProxy's report: `column(name)` is the named column of `reportedIn.command`. */
  read(column: (name: string) => string | undefined): Op | undefined;
  /** The builder's arguments after backend and server. */
  arguments(operation: Op): readonly (string | number)[];
}

/** A whole number from HAProxy's text, 0 when there is none. */
export function wholeNumber(text: string | undefined): number {
  const value = Number(text);
  return Number.isFinite(value) && text !== "" && text !== undefined ? value : 0;
}

/** HAProxy's SRV_ADMF_* bits (`srv_admin_state`). */
const ADMIN_FORCED_MAINT = 0x01;
const ADMIN_INHERITED_MAINT = 0x02;
const ADMIN_RESOLUTION_MAINT = 0x20;
const ADMIN_FORCED_DRAIN = 0x08;
const ADMIN_INHERITED_DRAIN = 0x10;
// SRV_ADMF_CMAINT (0x04, "disabled" in the config) stays set after `state
// ready` on 2.6 while the server runs (tested), so it does not mean maint:
// a template slot that is really down also carries FMAINT (0x01).
const ADMIN_ANY_MAINT = ADMIN_FORCED_MAINT | ADMIN_INHERITED_MAINT | ADMIN_RESOLUTION_MAINT;
const ADMIN_ANY_DRAIN = ADMIN_FORCED_DRAIN | ADMIN_INHERITED_DRAIN;

export function adminStateFromBits(bits: number): AdminState {
  if (bits & ADMIN_ANY_MAINT) return "maint";
  if (bits & ADMIN_ANY_DRAIN) return "drain";
  return "ready";
}

/** 0.0.0.0 and :: are how a freed slot forgets its node: no address. */
function isNoAddress(address: string): boolean {
  return address === "" || address === "-" || address === "0.0.0.0" || address === "::";
}

const address = {
  kind: "set-addr" as const,
  phase: "prepare" as const,
  send: "always" as const,
  reportedIn: { command: "show servers state", columns: ["srv_addr", "srv_port"] },
  command: "setServerAddr" as const,
  // The slots file writes the address as the server's target, not as a keyword.
  desired: (source) => ({ kind: "set-addr", address: source.address, port: source.port }),
  current: (slot) => (slot.address !== undefined && slot.port !== undefined ? { kind: "set-addr", address: slot.address, port: slot.port } : undefined),
  record(slot, operation) {
    if (isNoAddress(operation.address)) {
      delete slot.address;
      delete slot.port;
    } else {
      slot.address = operation.address;
      slot.port = operation.port;
    }
  },
  read(column) {
    const text = column("srv_addr") ?? "";
    return isNoAddress(text) ? undefined : { kind: "set-addr", address: text, port: wholeNumber(column("srv_port")) };
  },
  arguments: (operation) => [operation.address, operation.port],
} satisfies SlotSetting<Extract<SettingOperation, { kind: "set-addr" }>>;

const weight = {
  kind: "set-weight" as const,
  phase: "prepare" as const,
  send: "when different" as const,
  reportedIn: { command: "show servers state", columns: ["srv_uweight"] },
  command: "setServerWeight" as const,
  status: { field: "weight" as const, header: "WEIGHT", value: (slot: SlotSettingFields) => slot.weight },
  slotsFile: { replaces: [{ word: "weight", takesValue: true }], write: (slot) => ["weight", String(slot.weight)] },
  desired: (source) => ({ kind: "set-weight", weight: source.settings.weight ?? source.defaults.weight }),
  current: (slot) => ({ kind: "set-weight", weight: slot.weight }),
  record(slot, operation) {
    slot.weight = operation.weight;
  },
  read: (column) => ({ kind: "set-weight", weight: wholeNumber(column("srv_uweight")) }),
  arguments: (operation) => [operation.weight],
} satisfies SlotSetting<Extract<SettingOperation, { kind: "set-weight" }>, "weight">;

const maxconn = {
  kind: "set-maxconn" as const,
  phase: "prepare" as const,
  send: "when different" as const,
  reportedIn: { command: "show stat", columns: ["slim"] },
  command: "setServerMaxconn" as const,
  status: { field: "maxconn" as const, header: "MAXCONN", value: (slot: SlotSettingFields) => slot.maxconn, blankWhen: 0 },
  slotsFile: { replaces: [{ word: "maxconn", takesValue: true }], write: (slot) => (slot.maxconn > 0 ? ["maxconn", String(slot.maxconn)] : []) },
  desired: (source) => ({ kind: "set-maxconn", maxconn: (source.role === "pow" ? source.settings.powMaxconn : source.settings.maxconn) ?? source.defaults.maxconn }),
  current: (slot) => ({ kind: "set-maxconn", maxconn: slot.maxconn }),
  record(slot, operation) {
    slot.maxconn = operation.maxconn;
  },
  read: (column) => ({ kind: "set-maxconn", maxconn: wholeNumber(column("slim")) }),
  arguments: (operation) => [operation.maxconn],
} satisfies SlotSetting<Extract<SettingOperation, { kind: "set-maxconn" }>, "maxconn">;

const state = {
  kind: "set-state" as const,
  phase: "activate" as const,
  send: "when different" as const,
  reportedIn: { command: "show servers state", columns: ["srv_admin_state"] },
  command: "setServerState" as const,
  // A slot in maintenance stays `disabled` after a reload.
  slotsFile: {
    replaces: [
      { word: "disabled", takesValue: false },
      { word: "enabled", takesValue: false },
    ],
    write: (slot) => (slot.adminState === "maint" ? ["disabled"] : []),
  },
  desired: (source) => ({ kind: "set-state", state: source.state }),
  current: (slot) => ({ kind: "set-state", state: slot.adminState }),
  record(slot, operation) {
    slot.adminState = operation.state;
  },
  read: (column) => ({ kind: "set-state", state: adminStateFromBits(wholeNumber(column("srv_admin_state"))) }),
  arguments: (operation) => [operation.state],
} satisfies SlotSetting<Extract<SettingOperation, { kind: "set-state" }>>;

/**
 * Every slot setting, in the order their operations are sent within a batch
 * and their keywords are written in the slots file.
 */
export const SLOT_SETTINGS = Object.freeze([address, weight, maxconn, state] as const);

/** Any entry, for code that treats them alike (its methods take their own operation). */
export type AnySlotSetting = SlotSetting<SettingOperation, StatusField> & { readonly command: SettingCommand };

/** The table as code that treats every entry alike sees it. */
export const SETTINGS: readonly AnySlotSetting[] = SLOT_SETTINGS;

/** The `status` fields the table shows (`weight`, `maxconn`). */
export type StatusField = Extract<(typeof SLOT_SETTINGS)[number], { status: unknown }>["status"]["field"];

/** The builder names the table uses (the applier checks that each exists). */
export type SettingCommand = (typeof SLOT_SETTINGS)[number]["command"];

// Exhaustiveness, checked by the compiler: every operation has its entry.
type OperationsWithoutEntry = Exclude<SettingOperation["kind"], (typeof SLOT_SETTINGS)[number]["kind"]>;
const everyOperationHasAnEntry: [OperationsWithoutEntry] extends [never] ? true : OperationsWithoutEntry = true;
void everyOperationHasAnEntry;

/** The entry of an operation's kind, undefined for operations that are no setting (health, add server). */
export function settingOf(kind: string): AnySlotSetting | undefined {
  return SETTINGS.find((entry) => entry.kind === kind);
}

/** Same operation, same values. */
export function sameOperation(a: SettingOperation | undefined, b: SettingOperation): boolean {
  if (a === undefined || a.kind !== b.kind) return false;
  const left = a as Readonly<Record<string, unknown>>;
  const right = b as Readonly<Record<string, unknown>>;
  return Object.keys(right).every((name) => left[name] === right[name]);
}
