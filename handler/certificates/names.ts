// The names of one certificate, from `certificate_name` (issue 18): a comma
// list whose first name is the subject (and names the files on disk), the
// rest alternative names. Only names HTTP-01 can prove: no wildcard, no IP.

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
  if (name.length === 0) return "an empty name (two commas, or a comma at an end): remove it";
  if (name.length > 253) return `${name.slice(0, 40)}…: longer than 253 characters, not a DNS name`;
  if (/^[0-9.]+$/.test(name) || name.includes(":")) return `${name}: an IP address; certificate_name takes DNS names`;
  const bad = name.split(".").find((label) => !LABEL.test(label));
  if (bad !== undefined) return `${name}: "${bad}" is not a DNS label (letters, digits and inner hyphens, at most 63)`;
  return undefined;
}

/**
 * The names of a `certificate_name` value: trimmed, lower case, each once,
 * in their order. Throws a CertificateNameError listing every bad name.
 */
export function parseCertificateNames(value: string): string[] {
  const names = value.split(",").map((name) => name.trim().toLowerCase());
  const problems = names.map(nameProblem).filter((problem): problem is string => problem !== undefined);
  if (problems.length > 0) throw new CertificateNameError(`certificate_name ${JSON.stringify(value)}: ${problems.join("; ")}`);
  return [...new Set(names)];
}

/** The file stem of a certificate: its first name (a DNS name is a safe file name: no slash, no leading dot). */
export function certificateId(names: readonly string[]): string {
  const first = names[0];
  if (first === undefined || nameProblem(first) !== undefined) throw new CertificateNameError(`a certificate needs a valid first name, got ${JSON.stringify(names)}`);
  return first;
}
