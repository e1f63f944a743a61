// One ACME order (RFC 8555) over HTTP-01, by acme-client (a maintained
// implementation: account, order, challenges, finalize, download). What is
// ours: where the challenge responses go (a ChallengeStore), which CA the
// directory's TLS is checked against (acme_ca_file), and that the CA's reason
// reaches the caller without the order's tokens.
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { Client, axios, crypto as acmeCrypto, directory } from "acme-client";
import { isChallengeToken, type ChallengeStore } from "./challenge.js";
import { redact } from "./redact.js";
import { AcmeOrderError, type AcmeOptions, type IssuedCertificate } from "./acme-order-error.js";

export { AcmeOrderError, type AcmeOptions, type IssuedCertificate };

export const LETS_ENCRYPT_PRODUCTION = directory.letsencrypt.production;

// acme-client sends every request through its own axios instance, one for the
// process. A directory under a private CA gets an agent that trusts that CA,
// by origin, so one directory's CA never vouches for another's.
const agents = new Map<string, { ca: string; agent: Agent }>();
const REQUEST_TIMEOUT_MS = 30_000;
let intercepting = false;

function intercept(): void {
  if (intercepting) return;
  intercepting = true;
  axios.interceptors.request.use((config) => {
    const trusted = config.url === undefined ? undefined : agents.get(new URL(config.url).origin);
    if (trusted !== undefined) config.httpsAgent = trusted.agent;
    // axios waits forever by default; a CA that stalls fails this order instead.
    config.timeout = config.timeout || REQUEST_TIMEOUT_MS;
    return config;
  });
}

function trustFor(directoryUrl: string, caFile: string | undefined): void {
  intercept();
  let origin: string;
  try {
    const url = new URL(directoryUrl);
    if (url.protocol !== "https:") throw new Error("not https");
    origin = url.origin;
  } catch {
    throw new Error(`acme_directory ${JSON.stringify(directoryUrl)} is not an https URL: give the CA's directory URL (Let's Encrypt's is ${LETS_ENCRYPT_PRODUCTION})`);
  }
  if (caFile === undefined) {
    agents.delete(origin);
    return;
  }
  let ca: string;
  try {
    ca = readFileSync(caFile, "utf8");
  } catch (error) {
    throw new Error(`acme_ca_file ${caFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)}); put there the CA certificate that signs ${origin}'s TLS certificate, or remove acme_ca_file for a directory under a public CA`);
  }
  if (agents.get(origin)?.ca !== ca) agents.set(origin, { ca, agent: new Agent({ ca }) });
}


/**
 * Orders a certificate for `names` (first name the subject) with a new P-256
 * key, answering HTTP-01 only: each key authorization is put in `challenges`
 * while the CA validates and removed after. Throws AcmeOrderError with the
 * CA's reason.
 */
export async function orderCertificate(options: AcmeOptions, accountKey: string, names: readonly string[], challenges: ChallengeStore): Promise<IssuedCertificate> {
  const directoryUrl = options.directoryUrl ?? LETS_ENCRYPT_PRODUCTION;
  trustFor(directoryUrl, options.caFile);
  // The order's tokens and key authorizations: kept out of the reason.
  const secrets: string[] = [];
  try {
    const client = new Client({ directoryUrl, accountKey });
    // The account this key already has (a POST-as-GET). Without it, acme-client
    // registers again, and an account that exists is then "updated" with
    // termsOfServiceAgreed alone, which pebble refuses as an empty update:
    // every order after the first failed where acme_email is unset. None yet
    // (or no answer): the order registers it, as before.
    await client.createAccount({ onlyReturnExisting: true }).catch(() => undefined);
    const [key, csr] = await acmeCrypto.createCsr(
      { commonName: names[0] !== undefined && names[0].length <= 64 ? names[0] : undefined, altNames: [...names] },
      await acmeCrypto.createPrivateEcdsaKey("P-256"),
    );
    const chain = await client.auto({
      csr,
      ...(options.email === undefined ? {} : { email: options.email }),
      // Setting acme_directory is the operator's consent to the CA's terms.
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // acme-client's self-check fetches the name from this host, which NAT or
      // split DNS often keep from working although the CA would succeed; a
      // wrong answer costs one failed order, and the retry backs off.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== "http-01") throw new Error(`the CA offers no http-01 challenge for ${authz.identifier.value}; this load balancer proves names over HTTP-01 only`);
        secrets.push(challenge.token, keyAuthorization);
        if (!isChallengeToken(challenge.token)) throw new Error("the CA sent a challenge token that is not base64url (RFC 8555 8.3); check acme_directory");
        await challenges.put(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => {
        if (challenge.type === "http-01" && isChallengeToken(challenge.token)) await challenges.remove(challenge.token);
      },
    });
    return { chain, key: key.toString() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new AcmeOrderError(names, redact(message || "no reason given", secrets));
  }
}
