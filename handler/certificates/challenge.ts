// HTTP-01 challenge responses (RFC 8555 8.3). The order publishes each
// response through a ChallengeStore; whatever answers the CA's request on
// port 80 reads it back. Several load balancers of a tier share one portmap
// prefix and the CA may reach any of them, so the real store is in Consul KV
// (source/acme-challenges.ts: this module reads no Consul); the in-memory one
// here serves one process (and the tests).

/** Where an order publishes a challenge response while the CA validates it. */
export interface ChallengeStore {
  put(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

/** What the HTTP responder reads a challenge response from. */
export interface ChallengeAnswers {
  get(token: string): Promise<string | undefined>;
}

export const CHALLENGE_PATH = "/.well-known/acme-challenge/";

// base64url without padding (RFC 8555 8.3); the bound keeps a hostile path
// from reaching the store as a huge key.
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function isChallengeToken(token: string): boolean {
  return TOKEN.test(token);
}

/**
 * The token of a request path `/.well-known/acme-challenge/<token>`, or
 * undefined for any other path: no query, no second segment, no encoded
 * character, so nothing but a token can reach the store.
 */
export function challengeToken(path: string): string | undefined {
  if (!path.startsWith(CHALLENGE_PATH)) return undefined;
  const token = path.slice(CHALLENGE_PATH.length);
  return isChallengeToken(token) ? token : undefined;
}

/** The key authorization to send back for a request path, or undefined (answer 404). */
export async function answerChallenge(path: string, answers: ChallengeAnswers): Promise<string | undefined> {
  const token = challengeToken(path);
  return token === undefined ? undefined : answers.get(token);
}

/** The challenge responses of this process only: enough for one load balancer, and for the tests. */
export class MemoryChallengeStore implements ChallengeStore, ChallengeAnswers {
  private readonly responses = new Map<string, string>();

  async put(token: string, keyAuthorization: string): Promise<void> {
    if (!isChallengeToken(token)) throw new Error("refusing to publish an ACME challenge whose token is not base64url: the CA answered out of RFC 8555; check acme_directory");
    this.responses.set(token, keyAuthorization);
  }

  async remove(token: string): Promise<void> {
    this.responses.delete(token);
  }

  async get(token: string): Promise<string | undefined> {
    return this.responses.get(token);
  }

  /** How many responses are published (a finished order leaves none). */
  get size(): number {
    return this.responses.size;
  }
}
