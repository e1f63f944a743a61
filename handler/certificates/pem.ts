// PEM files as HAProxy loads them: one file per certificate holding the leaf,
// its chain and the private key (HAProxy's `crt` accepts them in one file, and
// `set ssl cert` over the runtime API takes the same payload).
import { X509Certificate, createPrivateKey } from "node:crypto";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** The PEM blocks of `text` whose label matches (CERTIFICATE, PRIVATE KEY, EC PRIVATE KEY, ...), each ending in a newline. */
export function pemBlocks(text: string, label: (label: string) => boolean): string[] {
  return [...text.matchAll(BLOCK)].filter((match) => label(match[1] ?? "")).map((match) => `${match[0].replace(/\r\n/g, "\n")}\n`);
}

const isCertificate = (label: string): boolean => label === "CERTIFICATE";
const isPrivateKey = (label: string): boolean => label.endsWith("PRIVATE KEY");

export interface Bundle {
  /** Leaf first, then the chain as the CA sent it. */
  certificates: string[];
  key: string;
}

/**
 * The certificates and the one private key of a PEM file; throws when either
 * is missing or the key is not the leaf's. The message never quotes the file.
 */
export function splitBundle(text: string, what: string): Bundle {
  const certificates = pemBlocks(text, isCertificate);
  const keys = pemBlocks(text, isPrivateKey);
  const [leaf] = certificates;
  const [key] = keys;
  if (leaf === undefined) throw new Error(`${what}: no CERTIFICATE block; remove the file and the handler writes a self-signed one again`);
  if (key === undefined || keys.length > 1) throw new Error(`${what}: ${keys.length} private keys where one belongs; remove the file and the handler writes a self-signed one again`);
  if (!new X509Certificate(leaf).checkPrivateKey(createPrivateKey(key))) throw new Error(`${what}: the private key is not the certificate's; remove the file and the handler writes a self-signed one again`);
  return { certificates, key };
}

/** One PEM file: leaf, chain, key (the order HAProxy reads). */
export function joinBundle(chain: string, key: string): string {
  const certificates = pemBlocks(chain, isCertificate);
  const keys = pemBlocks(key, isPrivateKey);
  if (certificates.length === 0 || keys.length !== 1) throw new Error(`a certificate bundle needs at least one certificate and one key (got ${certificates.length} and ${keys.length}): the CA's answer was not a PEM chain`);
  return [...certificates, ...keys].join("");
}

export interface CertificateFacts {
  /** The DNS names of the subject alternative names, in their order. */
  names: string[];
  /** The issuer's distinguished name on one line ("CN=Pebble Intermediate CA 1a2b3c"). */
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** Issued by its own key: the placeholder, not a CA's certificate. */
  selfSigned: boolean;
}

/** What `status` shows of a leaf certificate (the first of a PEM text). */
export function certificateFacts(pem: string): CertificateFacts {
  const [leaf] = pemBlocks(pem, isCertificate);
  if (leaf === undefined) throw new Error("no CERTIFICATE block in the PEM text");
  const certificate = new X509Certificate(leaf);
  const names = (certificate.subjectAltName ?? "")
    .split(/,\s*/)
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice("DNS:".length));
  return {
    names,
    // node gives undefined (not "") for an empty name, as the placeholder of a long first name has.
    issuer: (certificate.issuer as string | undefined)?.split("\n").join(", ") ?? "",
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    selfSigned: certificate.issuer === certificate.subject && certificate.verify(certificate.publicKey),
  };
}
