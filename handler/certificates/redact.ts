// A CA's reason goes to logs, `status` and errors; what it may quote must not
// (issue 18: no key, token or account secret in them). Pebble's and Boulder's
// HTTP-01 failures quote the challenge URL, token included.

const PEM = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;
const CHALLENGE_URL_TOKEN = /(\/\.well-known\/acme-challenge\/)[^\s"'<>]+/g;
/** A reason longer than this is cut: a CA's HTML error page is no reason. */
export const MAX_REASON_LENGTH = 500;

/**
 * `text` without PEM blocks, challenge tokens in URLs, or any of `secrets`
 * (tokens and key authorizations of the order), on one line, cut to
 * MAX_REASON_LENGTH characters.
 */
export function redact(text: string, secrets: Iterable<string> = []): string {
  let result = text.replace(PEM, "[PEM removed]").replace(CHALLENGE_URL_TOKEN, "$1[token]");
  // Longest first, so a key authorization (token.thumbprint) goes whole before its token.
  const ordered = [...secrets].filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of ordered) result = result.split(secret).join("[redacted]");
  result = result.replace(/\s+/g, " ").trim();
  return result.length > MAX_REASON_LENGTH ? `${result.slice(0, MAX_REASON_LENGTH - 1)}…` : result;
}
