// Parsers for HAProxy's `show stat`, `show servers state` and `show info`.
// Columns are found by the header line, never by position: HAProxy adds
// columns between versions.

export type StatRow = Record<string, string> & { pxname: string; svname: string };

/**
 * `show stat` CSV: `# pxname,svname,...` then one line per proxy/server.
 * `columns` keeps only those (plus pxname and svname): a row has about 100
 * columns, and building all of them dominates the cost on large backends.
 */
export function parseShowStat(output: string, columns?: readonly string[]): StatRow[] {
  const headerStart = output.indexOf("# ");
  if (headerStart < 0) throw new Error("show stat: no header line in the reply");
  const headerEnd = output.indexOf("\n", headerStart);
  const header = output.slice(headerStart + 2, headerEnd < 0 ? undefined : headerEnd).split(",");
  const wanted = columns === undefined ? undefined : new Set(["pxname", "svname", ...columns]);
  const picked = header.map((column, index) => [column, index] as const).filter(([column]) => column !== "" && (wanted === undefined || wanted.has(column)));
  // Only the cells up to the last wanted column are cut out of each line.
  const lastIndex = picked.reduce((highest, [, index]) => Math.max(highest, index), 0);
  const rows: StatRow[] = [];
  for (const line of output.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cells: string[] = [];
    let from = 0;
    while (cells.length <= lastIndex) {
      const comma = line.indexOf(",", from);
      cells.push(comma < 0 ? line.slice(from) : line.slice(from, comma));
      if (comma < 0) break;
      from = comma + 1;
    }
    const row: Record<string, string> = {};
    for (const [column, index] of picked) row[column] = cells[index] ?? "";
    row["pxname"] ??= "";
    row["svname"] ??= "";
    rows.push(row as StatRow);
  }
  return rows;
}

export interface ServerStateRow {
  backendId: number;
  backendName: string;
  serverId: number;
  serverName: string;
  address: string;
  operationalState: number;
  adminState: number;
  userWeight: number;
  initialWeight: number;
  secondsSinceLastChange: number;
  checkStatus: number;
  checkResult: number;
  checkHealth: number;
  checkState: number;
  agentState: number;
  port: number;
  useSsl: boolean;
  checkPort: number;
}

/** `show servers state`: a version line, `# be_id be_name ...`, then space-separated rows. */
export function parseShowServersState(output: string): ServerStateRow[] {
  const headerStart = output.indexOf("# ");
  if (headerStart < 0) return [];
  const headerEnd = output.indexOf("\n", headerStart);
  const header = output.slice(headerStart + 2, headerEnd < 0 ? undefined : headerEnd).split(" ");
  const column = (name: string): number => header.indexOf(name);
  const at = {
    backendId: column("be_id"),
    backendName: column("be_name"),
    serverId: column("srv_id"),
    serverName: column("srv_name"),
    address: column("srv_addr"),
    operationalState: column("srv_op_state"),
    adminState: column("srv_admin_state"),
    userWeight: column("srv_uweight"),
    initialWeight: column("srv_iweight"),
    secondsSinceLastChange: column("srv_time_since_last_change"),
    checkStatus: column("srv_check_status"),
    checkResult: column("srv_check_result"),
    checkHealth: column("srv_check_health"),
    checkState: column("srv_check_state"),
    agentState: column("srv_agent_state"),
    port: column("srv_port"),
    useSsl: column("srv_use_ssl"),
    checkPort: column("srv_check_port"),
  };
  const rows: ServerStateRow[] = [];
  for (const line of output.split("\n")) {
    if (line === "" || line.startsWith("#") || /^\d+$/.test(line)) continue;
    const cells = line.split(" ");
    const text = (index: number): string => (index < 0 ? "" : (cells[index] ?? ""));
    const number = (index: number): number => {
      const value = Number(text(index));
      return Number.isFinite(value) ? value : 0;
    };
    rows.push({
      backendId: number(at.backendId),
      backendName: text(at.backendName),
      serverId: number(at.serverId),
      serverName: text(at.serverName),
      address: text(at.address),
      operationalState: number(at.operationalState),
      adminState: number(at.adminState),
      userWeight: number(at.userWeight),
      initialWeight: number(at.initialWeight),
      secondsSinceLastChange: number(at.secondsSinceLastChange),
      checkStatus: number(at.checkStatus),
      checkResult: number(at.checkResult),
      checkHealth: number(at.checkHealth),
      checkState: number(at.checkState),
      agentState: number(at.agentState),
      port: number(at.port),
      useSsl: text(at.useSsl) === "1",
      checkPort: number(at.checkPort),
    });
  }
  return rows;
}

export interface ProcessInfo {
  pid: number;
  uptimeSeconds: number;
  version: string;
  raw: Record<string, string>;
}

/** `show info`: `Key: value` lines. */
export function parseShowInfo(output: string): ProcessInfo {
  const raw: Record<string, string> = {};
  for (const line of output.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) raw[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const pid = Number(raw["Pid"]);
  const uptimeSeconds = Number(raw["Uptime_sec"]);
  if (!Number.isFinite(pid) || !Number.isFinite(uptimeSeconds)) throw new Error("show info: no Pid or Uptime_sec in the reply");
  return { pid, uptimeSeconds, version: raw["Version"] ?? "", raw };
}

/** `show ssl cert` without a file: the certificate stores HAProxy holds. */
export interface SslCertList {
  /** The file of the open `set ssl cert` transaction, if one is open. */
  transaction: string | undefined;
  files: string[];
}

/** `# transaction` then `*<file>` (only while one is open), `# filename` then one file a line. */
export function parseShowSslCertList(output: string): SslCertList {
  let transaction: string | undefined;
  const files: string[] = [];
  let section: string | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith("# ")) section = line.slice(2);
    else if (line === "") continue;
    else if (section === "transaction") transaction = line.replace(/^\*/, "");
    else if (section === "filename") files.push(line);
  }
  return { transaction, files };
}

/** What `show ssl cert <file>` says of the certificate itself (absent from an empty store). */
export interface SslCertificate {
  /** Hex, as HAProxy prints it (upper case, no separators). */
  serial: string;
  notBefore: string;
  /** As OpenSSL prints it, e.g. `Dec  9 13:21:44 2026 GMT`. */
  notAfter: string;
  /** notAfter as a date; undefined if OpenSSL printed it in a form not known here. */
  notAfterDate: Date | undefined;
  /** One line, OpenSSL's `/CN=a.test/O=...` form. */
  subject: string;
  issuer: string;
  /** The DNS names of the subjectAltName, in order (other kinds of name are left out). */
  dnsNames: string[];
  /** Hex, upper case, no separators. */
  sha1Fingerprint: string;
  /** e.g. `RSA2048`, `EC256`. */
  algorithm: string;
  /** The subject of each chain certificate, in order. */
  chainSubjects: string[];
}

/** `show ssl cert <file>` (or `*<file>`, the open transaction). */
export interface SslCertDetail {
  filename: string;
  /** The reply was about the open transaction (`Filename: *<file>`), not what is served. */
  transaction: boolean;
  /** `Empty`, `Unused`, `Used`, or (3.2, a transaction) `Uncommitted`. */
  status: string;
  certificate: SslCertificate | undefined;
  /** Every `Key: value` line; a key seen twice (Chain Subject) keeps its first value. */
  raw: Record<string, string>;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** OpenSSL's ASN1_TIME_print form: `Mmm dd hh:mm:ss[.fff] yyyy GMT`, the day padded with a space. */
export function parseOpensslTime(text: string): Date | undefined {
  const match = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4}) GMT$/.exec(text.trim());
  if (!match) return undefined;
  const month = MONTHS.indexOf(match[1] ?? "");
  if (month < 0) return undefined;
  return new Date(Date.UTC(Number(match[6]), month, Number(match[2]), Number(match[3]), Number(match[4]), Number(match[5])));
}

/**
 * `Key: value` lines, found by key: 3.2 adds lines (`Crt filename`, `Key
 * filename`, ...) the earlier versions do not print.
 */
export function parseShowSslCert(output: string): SslCertDetail {
  const raw: Record<string, string> = {};
  const chainSubjects: string[] = [];
  for (const line of output.split("\n")) {
    const colon = line.indexOf(": ");
    const key = colon > 0 ? line.slice(0, colon) : line.endsWith(":") ? line.slice(0, -1) : undefined;
    if (key === undefined) continue;
    const value = colon > 0 ? line.slice(colon + 2) : "";
    if (key === "Chain Subject") chainSubjects.push(value);
    raw[key] ??= value;
  }
  const filenameField = raw["Filename"];
  if (filenameField === undefined) throw new Error("show ssl cert: no Filename line in the reply");
  const transaction = filenameField.startsWith("*");
  const serial = raw["Serial"];
  const certificate: SslCertificate | undefined =
    serial === undefined
      ? undefined
      : {
          serial,
          notBefore: raw["notBefore"] ?? "",
          notAfter: raw["notAfter"] ?? "",
          notAfterDate: parseOpensslTime(raw["notAfter"] ?? ""),
          subject: raw["Subject"] ?? "",
          issuer: raw["Issuer"] ?? "",
          dnsNames: (raw["Subject Alternative Name"] ?? "")
            .split(", ")
            .filter((name) => name.startsWith("DNS:"))
            .map((name) => name.slice(4)),
          sha1Fingerprint: raw["SHA1 FingerPrint"] ?? "",
          algorithm: raw["Algorithm"] ?? "",
          chainSubjects,
        };
  return { filename: transaction ? filenameField.slice(1) : filenameField, transaction, status: raw["Status"] ?? "", certificate, raw };
}
