// The certificates of one load balancer (issue 18): for each list of names a
// served certificate from the first moment (a self-signed placeholder, made
// once), an ACME order when one is due, and a record of what happened for
// `status`. A failed order changes nothing served: the failure, with the CA's
// reason, is recorded and the next order backs off (renewal.ts).
import { AcmeOrderError, type AcmeOptions, type IssuedCertificate } from "./acme-order-error.js";
import type { ChallengeStore } from "./challenge.js";
import { certificateId, orderableNames } from "./names.js";
import { certificateFacts, joinBundle, splitBundle } from "./pem.js";
import { redact } from "./redact.js";
import { isDue, nextOrder } from "./renewal.js";
import { selfSignedBundle } from "./self-signed.js";
import type { CertificateRecord, CertificateStore } from "./store.js";

/** The two levels the manager logs at (a winston Logger is one). */
export interface CertificateLog {
  info(message: string, fields: Record<string, unknown>): void;
  warn(message: string, fields: Record<string, unknown>): void;
}

export interface CertificateManagerOptions {
  store: CertificateStore;
  acme: AcmeOptions;
  challenges: ChallengeStore;
  log?: CertificateLog;
  now?: () => Date;
  /** Told of each order's result (the metrics). */
  onOrder?: (result: "issued" | "failed") => void;
  /** The order itself (acme.ts's orderCertificate, loaded at the first order); a test may put a CA of its own here. */
  order?: OrderFunction;
}

/** One order: acme.ts's orderCertificate, or a test's CA. */
export type OrderFunction = (options: AcmeOptions, accountKey: string, names: readonly string[], challenges: ChallengeStore) => Promise<IssuedCertificate>;

/** acme.ts and acme-client (axios, an X.509 library) are loaded at the first order: a handler that orders nothing never pays their start-up time and memory. */
const orderOnFirstUse: OrderFunction = async (...args) => (await import("./acme.js")).orderCertificate(...args);

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.join(",") === b.join(",");
}

export class CertificateManager {
  private readonly inFlight = new Map<string, Promise<CertificateRecord>>();
  private readonly now: () => Date;
  private readonly order: OrderFunction;

  constructor(private readonly options: CertificateManagerOptions) {
    this.now = options.now ?? (() => new Date());
    this.order = options.order ?? orderOnFirstUse;
  }

  /** What `status` lists: every certificate's record, without keys. */
  status(): CertificateRecord[] {
    return this.options.store.records();
  }

  /**
   * The record of the certificate served for `names`, writing the self-signed
   * placeholder first when nothing is served yet, or when the placeholder is
   * for other names. A CA's certificate is never replaced here. Throws a
   * CertificateNameError for a name HTTP-01 cannot prove (a wildcard): that is
   * the portmap's to report, not an order to retry.
   */
  async ensure(wanted: readonly string[]): Promise<CertificateRecord> {
    const { store } = this.options;
    const names = orderableNames(wanted);
    const id = certificateId(names);
    const onDisk = store.readPem(id);
    if (onDisk !== undefined) splitBundle(onDisk, store.pemFile(id));
    const served = onDisk === undefined ? undefined : certificateFacts(onDisk);
    let pem = onDisk;
    if (pem === undefined || (served?.selfSigned === true && !sameNames(served.names, names))) {
      pem = await selfSignedBundle(names);
      store.writePem(id, pem);
    }
    return this.record(names, pem, store.readRecord(id), {});
  }

  /** Orders now when an order is due for `names` (placeholder, new names, renewal, or a retry whose wait is over). */
  async renewIfDue(names: readonly string[]): Promise<CertificateRecord> {
    const record = await this.ensure(names);
    return isDue({ at: new Date(record.nextOrderAt), reason: record.nextOrderReason }, this.now()) ? this.issue(names) : record;
  }

  /**
   * Orders a certificate for `names` now and serves it on success. A failure
   * (the CA's refusal, no answer, a bad acme_ca_file) leaves the served
   * certificate and is recorded with its reason and the backed-off retry;
   * it is not thrown. One order per certificate at a time.
   */
  async issue(wanted: readonly string[]): Promise<CertificateRecord> {
    const names = orderableNames(wanted);
    const id = certificateId(names);
    const running = this.inFlight.get(id);
    if (running !== undefined) return running;
    const started = this.issueOnce(id, names).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, started);
    return started;
  }

  private async issueOnce(id: string, names: readonly string[]): Promise<CertificateRecord> {
    const { store, log } = this.options;
    const before = await this.ensure(names);
    try {
      const issued = await this.order(this.options.acme, store.accountKey(), names, this.options.challenges);
      const bundle = joinBundle(issued.chain, issued.key);
      splitBundle(bundle, `the certificate the CA issued for ${names.join(", ")}`);
      store.writePem(id, bundle);
      const record = this.record(names, bundle, before, { failures: 0, orderedNames: names });
      this.options.onOrder?.("issued");
      log?.info("certificate issued", { names: record.names, issuer: record.issuer, notAfter: record.notAfter, nextRenewal: record.nextOrderAt });
      return record;
    } catch (error) {
      // Redacted here too, whoever threw: this is the one way a reason reaches disk and the log.
      const reason = redact(error instanceof AcmeOrderError ? error.reason : error instanceof Error ? error.message : String(error));
      const failures = sameNames(before.lastOrderNames, names) ? before.failures + 1 : 1;
      const pem = store.readPem(id) ?? "";
      const record = this.record(names, pem, before, { failures, orderedNames: names, error: reason });
      this.options.onOrder?.("failed");
      log?.warn("certificate order failed; the served certificate stays", { names: record.names, reason, failures, retryAt: record.nextOrderAt, served: record.selfSigned ? "self-signed" : record.issuer });
      return record;
    }
  }

  /** The record for `pem` served for `wanted`, after an order (`outcome`) or none, written to disk. */
  private record(wanted: readonly string[], pem: string, previous: CertificateRecord | undefined, outcome: { failures?: number; orderedNames?: readonly string[]; error?: string }): CertificateRecord {
    const now = this.now();
    const facts = certificateFacts(pem);
    const ordered = outcome.orderedNames !== undefined;
    const lastOrderAt = ordered ? now.toISOString() : previous?.lastOrderAt;
    const lastOrderNames = ordered ? [...(outcome.orderedNames ?? [])] : previous?.lastOrderNames;
    // A failure streak belongs to the names it ordered: new names start afresh.
    const failures = outcome.failures ?? (sameNames(lastOrderNames, wanted) ? (previous?.failures ?? 0) : 0);
    const lastError = ordered ? outcome.error : failures > 0 ? previous?.lastError : undefined;
    const next = nextOrder(
      { wanted, served: facts, failures, lastOrderAt: lastOrderAt === undefined ? undefined : new Date(lastOrderAt) },
      now,
    );
    const record: CertificateRecord = {
      names: [...wanted],
      servedNames: facts.names,
      issuer: facts.issuer,
      selfSigned: facts.selfSigned,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      failures,
      ...(lastOrderAt === undefined ? {} : { lastOrderAt }),
      ...(lastOrderNames === undefined ? {} : { lastOrderNames }),
      ...(lastError === undefined ? {} : { lastError }),
      nextOrderAt: next.at.toISOString(),
      nextOrderReason: next.reason,
    };
    this.options.store.writeRecord(certificateId(wanted), record);
    return record;
  }
}
