/** One line of check-config: a check, what it found, and whether it passed. */
export interface CheckResult {
  ok: boolean;
  /** Not a failure, but something the operator should see (a node left out). */
  warning?: boolean;
  what: string;
  detail: string;
}
