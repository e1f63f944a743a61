// The shape of one entry of Consul's `/v1/health/service/<name>` answer (and of
// a `service` watch's stdin payload, which is the same array). The JSON is
// untrusted input: it is checked field by field before anything uses it.

export interface ConsulCheck {
  CheckID: string;
  Name: string;
  Status: string;
  ServiceID: string;
}

export interface ConsulHealthEntry {
  Node: { Node: string; Address: string; Meta: Record<string, string> };
  Service: {
    ID: string;
    Service: string;
    Address: string;
    Port: number;
    Tags: string[];
    Meta: Record<string, string>;
  };
  Checks: ConsulCheck[];
}

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringField(record: Raw, key: string): string {
  const value = record[key];
  return typeof value === "string" ? value : "";
}

/** Keeps only string values: Consul's Meta maps are string -> string. */
function stringMap(value: unknown): Record<string, string> {
  const result: Record<string, string> = {};
  if (!isRecord(value)) return result;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === "string") result[key] = item;
  }
  return result;
}

export type EntryParse = { ok: true; entry: ConsulHealthEntry } | { ok: false; reason: string };

/** Checks one raw entry; a malformed one is reported, never guessed at. */
export function parseHealthEntry(raw: unknown): EntryParse {
  if (!isRecord(raw)) return { ok: false, reason: "entry is not an object" };
  const node = raw["Node"];
  const service = raw["Service"];
  const checks = raw["Checks"];
  if (!isRecord(node)) return { ok: false, reason: "entry has no Node object" };
  if (!isRecord(service)) return { ok: false, reason: "entry has no Service object" };
  const id = stringField(service, "ID");
  if (id === "") return { ok: false, reason: "Service.ID is missing" };
  if (checks !== undefined && checks !== null && !Array.isArray(checks)) return { ok: false, reason: `Checks of ${id} is not a list` };
  const port = service["Port"];
  const tags = service["Tags"];
  return {
    ok: true,
    entry: {
      Node: { Node: stringField(node, "Node"), Address: stringField(node, "Address"), Meta: stringMap(node["Meta"]) },
      Service: {
        ID: id,
        Service: stringField(service, "Service"),
        Address: stringField(service, "Address"),
        Port: typeof port === "number" ? port : Number.NaN,
        Tags: Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === "string") : [],
        Meta: stringMap(service["Meta"]),
      },
      Checks: (Array.isArray(checks) ? checks : []).filter(isRecord).map((check) => ({
        CheckID: stringField(check, "CheckID"),
        Name: stringField(check, "Name"),
        Status: stringField(check, "Status"),
        ServiceID: stringField(check, "ServiceID"),
      })),
    },
  };
}
