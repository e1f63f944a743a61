// The names of one certificate, from `certificate_name` (issue 18) as the
// portmap parser splits it (spec.certificateNames): the first name is the
// subject (and names the files on disk), the rest alternative names. The
// portmap accepts `*.` names for certificates provisioned by hand; an order
// over HTTP-01 can only prove plain DNS names: no wildcard, no IP.

export class CertificateNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateNameError";
  }
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` cannot be on a certificate issued over HTTP-01, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  if (name.startsWith("*.")) return `${name}: a wildcard name can only be proved over DNS-01, which this load balancer does not do; list each name instead`;
  if (name.length === 0) return "an empty name: remove it";
  if (name.length > 253) return `${name.slice(0, 40)}…: longer than 253 characters, not a DNS name`;
  if (/^[0-9.]+$/.test(name) || name.includes(":")) return `${name}: an IP address; certificate_name takes DNS names`;
  const bad = name.split(".").find((label) => !LABEL.test(label));
  if (bad !== undefined) return `${name}: "${bad}" is not a DNS label (letters, digits and inner hyphens, at most 63)`;
  return undefined;
}

/**
 * The names to order for `certificate_name`'s list: lower case, each once, in
 * their order. Throws a CertificateNameError listing every name HTTP-01
 * cannot prove.
 */
export function orderableNames(names: readonly string[]): string[] {
  const lower = names.map((name) => name.trim().toLowerCase());
  const problems = lower.map(nameProblem).filter((problem): problem is string => problem !== undefined);
  if (lower.length === 0) problems.push("no name: set certificate_name to the certificate's names, the subject first");
  if (problems.length > 0) throw new CertificateNameError(`certificate_name ${lower.join(",")}: ${problems.join("; ")}`);
  return [...new Set(lower)];
}

/** The file stem of a certificate: its first name (a DNS name is a safe file name: no slash, no leading dot). */
export function certificateId(names: readonly string[]): string {
  const first = names[0];
  if (first === undefined || nameProblem(first) !== undefined) throw new CertificateNameError(`a certificate needs a valid first name, got ${JSON.stringify(names)}`);
  return first;
}
