// The certificates on disk, in one directory (issue 18):
//   <first name>.pem   leaf, chain and private key, as HAProxy loads it (0600)
//   <first name>.json  what `status` shows: names, issuer, dates, last error,
//                      next order; no key, token or account secret (0644, so
//                      that `status` reads it without the keys)
//   account.key        the ACME account key, made once and kept (0600)
// Every file is written whole (a temporary file renamed over it): HAProxy or
// `status` reads the old file or the new one, never a part.
import { randomBytes, generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NextOrderReason } from "./renewal.js";

/** One certificate's metadata: everything `status` shows, nothing secret. */
export interface CertificateRecord {
  /** The names asked for (certificate_name), first name first. */
  names: string[];
  /** The names on the certificate served now. */
  servedNames: string[];
  issuer: string;
  selfSigned: boolean;
  notBefore: string;
  notAfter: string;
  /** Failed orders in a row since the last success. */
  failures: number;
  /** When the last order ended (ISO), and the names it asked for. */
  lastOrderAt?: string;
  lastOrderNames?: string[];
  /** The CA's reason for the last failure (redacted), until an order succeeds. */
  lastError?: string;
  nextOrderAt: string;
  nextOrderReason: NextOrderReason;
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export class CertificateStore {
  constructor(readonly directory: string) {}

  private ensureDirectory(): void {
    // 0700: the keys' directory is the handler's alone.
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
  }

  /** Writes a file whole with `mode`, whatever the umask or an earlier file's mode. */
  private writeWhole(name: string, content: string, mode: number): void {
    this.ensureDirectory();
    const file = join(this.directory, name);
    const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      writeFileSync(temporary, content, { mode, flag: "wx" });
      chmodSync(temporary, mode);
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new Error(`cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}): the certificate directory must be writable by the handler's user`);
    }
  }

  pemFile(id: string): string {
    return join(this.directory, `${id}.pem`);
  }

  readPem(id: string): string | undefined {
    return readIfThere(this.pemFile(id));
  }

  writePem(id: string, bundle: string): void {
    this.writeWhole(`${id}.pem`, bundle, 0o600);
  }

  readRecord(id: string): CertificateRecord | undefined {
    const text = readIfThere(join(this.directory, `${id}.json`));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as CertificateRecord;
    } catch {
      throw new Error(`${join(this.directory, `${id}.json`)} is not JSON: remove it and the handler writes it again at the next order`);
    }
  }

  writeRecord(id: string, record: CertificateRecord): void {
    this.writeWhole(`${id}.json`, `${JSON.stringify(record, null, 2)}\n`, 0o644);
  }

  /** Every certificate's record, by first name: what `status` lists. */
  records(): CertificateRecord[] {
    let entries: string[];
    try {
      entries = readdirSync(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    return entries
      .filter((entry) => entry.endsWith(".json"))
      .sort()
      .map((entry) => this.readRecord(entry.slice(0, -".json".length)))
      .filter((record): record is CertificateRecord => record !== undefined);
  }

  /**
   * The ACME account key (PEM), made on first use and kept: the account at
   * the CA is this key's, and a new key would be a new account.
   */
  accountKey(): string {
    const file = join(this.directory, "account.key");
    const existing = readIfThere(file);
    if (existing !== undefined) return existing;
    // P-256 (ES256): every RFC 8555 CA takes it, and it is made in milliseconds.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.writeWhole("account.key", privateKey.export({ type: "pkcs8", format: "pem" }).toString(), 0o600);
    return readFileSync(file, "utf8");
  }
}
