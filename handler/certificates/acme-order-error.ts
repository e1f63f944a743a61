// What the callers of an ACME order need without loading acme-client (its
// axios and X.509 library cost start-up time and memory that a handler
// without certificate_name never uses): the options, the result and the
// error. The order itself is acme.ts, imported at the first order.
export interface AcmeOptions {
  /** acme_directory: the directory URL (default Let's Encrypt production). */
  directoryUrl?: string;
  /** acme_email: the account's contact, where the CA writes about expiry and policy. */
  email?: string;
  /** acme_ca_file: the CA that signs the directory's TLS certificate, when it is a private one (pebble's, step-ca's). */
  caFile?: string;
}

export class AcmeOrderError extends Error {
  constructor(
    readonly names: readonly string[],
    /** The CA's reason (or the connection's), without tokens or keys. */
    readonly reason: string,
  ) {
    super(`ACME order for ${names.join(", ")} failed: ${reason}`);
    this.name = "AcmeOrderError";
  }
}

export interface IssuedCertificate {
  /** Leaf then chain, PEM, as the CA sent it. */
  chain: string;
  key: string;
}
