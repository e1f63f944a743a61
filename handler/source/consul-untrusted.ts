// Consul's answer cannot be trusted: every reader of Consul (health, KV)
// throws this, and every caller leaves HAProxy as it is (fail static).
export type UntrustedReason = "unreachable" | "http-error" | "acl-denied" | "no-leader" | "acl-filtered" | "bad-answer" | "token" | "truncated" | "timeout" | "agent-not-member";

/** Consul's answer cannot be trusted; the message says what the operator should check. */
export class ConsulUntrusted extends Error {
  constructor(
    readonly reason: UntrustedReason,
    message: string,
  ) {
    super(message);
    this.name = "ConsulUntrusted";
  }
}
