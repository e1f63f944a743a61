// The certificates the portmap's certificate_name asks for, in the running
// HAProxy (issue 18). Before a rendering that may name them, the served
// certificate (a self-signed placeholder until a CA has issued one) is put in
// lb.certDirectory, so `haproxy -c` finds a certificate for every TLS bind.
// Then, and every lb.certificateCheckSeconds (default a minute), a due order
// runs (acme_* keys: the CA; HTTP-01 through the tier's challenge folder in
// Consul KV, which every load balancer of the tier answers); a certificate that changed goes into the running
// HAProxy over the runtime API (lb/certificate-swap.ts: no reload) and to the
// directory for the next one. The records, the account key and the bundles
// live in lb.certificateStateDirectory, which HAProxy does not load.
//
// Each load balancer orders its own certificate: nothing secret leaves it
// (the private key is never in Consul), at the price of one order per load
// balancer and renewal against the CA's rate limits.
import { join } from "node:path";
import type { HandlerConfig } from "../config/config.js";
import type { Logger } from "../log.js";
import { CertificateManager } from "../certificates/manager.js";
import { certificateId, orderableNames } from "../certificates/names.js";
import { CertificateStore, type CertificateRecord } from "../certificates/store.js";
import { readIfThere, templateFileOf, writeWhole } from "../lb/files.js";
import { swapCertificate, type SessionOpener } from "../lb/certificate-swap.js";
import type { LoadBalancerSpec } from "../portmap/spec.js";
import type { ChallengeStore } from "../certificates/challenge.js";
import { certificateFacts } from "../certificates/pem.js";

/** Whether a PEM in certDirectory is self-signed; one that cannot be read counts as not (it is left alone). */
function isSelfSigned(pem: string): boolean {
  try {
    return certificateFacts(pem).selfSigned;
  } catch {
    return false;
  }
}

export interface CertificateTargets {
  config: HandlerConfig;
  logger: Logger;
  haproxy: SessionOpener;
  challenges: ChallengeStore;
  /** Each order's result (the metrics). */
  onOrder?: (result: "issued" | "failed") => void;
}

export class LoadBalancerCertificates {
  private manager: { key: string; manager: CertificateManager } | undefined;
  /** Files provisioned by hand that the placeholder was not put over (logged once each). */
  private readonly keptByHand = new Set<string>();
  /** One serve at a time: two swaps of one file must not interleave. Orders are not queued (they take seconds to minutes, and a rendering must not wait for one); the manager runs one per certificate. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `targets`: the newest context's. An order takes seconds and outlives the
   * context it started in (a portmap apply closes that one's connections):
   * its challenges and its swap go through the newest.
   */
  constructor(private readonly current: () => CertificateTargets) {}

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The names asked for, checked as an order would (a wildcard cannot be ordered over HTTP-01), or none. */
  private namesOf(spec: LoadBalancerSpec): string[] | undefined {
    if (spec.certificateNames.length === 0) return undefined;
    return orderableNames(spec.certificateNames);
  }

  /** One manager per CA settings (a change of acme_* keys takes effect at the next order). */
  private managerFor(spec: LoadBalancerSpec): CertificateManager {
    const { config, logger } = this.current();
    const key = JSON.stringify([spec.acme, config.lb.certificateStateDirectory]);
    if (this.manager?.key !== key) {
      // The challenges through the newest context whenever the CA asks, not the one this manager began with.
      const challenges: ChallengeStore = { put: (token, keyAuthorization) => this.current().challenges.put(token, keyAuthorization), remove: (token) => this.current().challenges.remove(token) };
      const acme = { directoryUrl: spec.acme.directory, ...(spec.acme.email === undefined ? {} : { email: spec.acme.email }), ...(spec.acme.caFile === undefined ? {} : { caFile: spec.acme.caFile }) };
      const onOrder = (result: "issued" | "failed"): void => this.current().onOrder?.(result);
      this.manager = { key, manager: new CertificateManager({ store: new CertificateStore(config.lb.certificateStateDirectory), acme, challenges, log: logger, onOrder }) };
    }
    return this.manager.manager;
  }

  /** Before a render: the served certificate for the spec's names is in certDirectory (the placeholder at first). */
  async prepare(spec: LoadBalancerSpec): Promise<void> {
    const names = this.namesOf(spec);
    if (names === undefined) return;
    await this.managerFor(spec).ensure(names);
    await this.serially(() => this.serve(names));
  }

  /** An order when one is due (placeholder, new names, renewal, a retry whose wait is over); a new certificate served. */
  async renew(spec: LoadBalancerSpec): Promise<CertificateRecord | undefined> {
    const names = this.namesOf(spec);
    if (names === undefined) return undefined;
    const record = await this.managerFor(spec).renewIfDue(names);
    await this.serially(() => this.serve(names));
    return record;
  }

  /**
   * The store's bundle for `names` into certDirectory, when it differs: over
   * the runtime API while HAProxy's TLS binds load that directory (no reload),
   * else only on disk (the rendering that names it comes next).
   */
  private async serve(names: string[]): Promise<void> {
    const { config, logger, haproxy } = this.current();
    const id = certificateId(names);
    const pem = new CertificateStore(config.lb.certificateStateDirectory).readPem(id);
    if (pem === undefined) return;
    const directory = config.lb.certDirectory;
    const file = `${id}.pem`;
    const there = readIfThere(join(directory, file));
    if (there === pem) return;
    // A certificate provisioned by hand under that name (before the CA's is issued) is not replaced by a placeholder.
    if (there !== undefined && certificateFacts(pem).selfSigned && !isSelfSigned(there)) {
      if (!this.keptByHand.has(file)) logger.warn("keeping the certificate already in lb.certDirectory until the CA's is issued (the placeholder is not served over it)", { names, file: join(directory, file) });
      this.keptByHand.add(file);
      return;
    }
    const loaded = (readIfThere(templateFileOf(config.lb.configFile)) ?? "").includes(` ssl crt ${directory}\n`);
    if (!loaded) {
      writeWhole(join(directory, file), pem, 0o600);
      logger.info("certificate written for the next rendering", { names, file: join(directory, file) });
      return;
    }
    const swapped = await swapCertificate(haproxy, { directory, file, pem });
    logger.info("certificate swapped into the running HAProxy", { names, file: join(directory, file), how: swapped.kind });
  }
}
