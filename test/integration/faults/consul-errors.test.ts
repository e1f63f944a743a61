// Consul answers with an error or with garbage, through the fault proxy in
// front of a real Consul, with `run` driving a real HAProxy (see fault-cases.ts).
import { describeFaults } from "./fault-cases.js";

describeFaults("Consul error answers under run", [
  // Eight failures in a row: with the old 30 s backoff the next retry was
  // 12.8-25.6 s away; with the 1 s cap the change is applied within ~2 s
  // (the 10 s deadline leaves room for a loaded machine, and is still
  // shorter than the old shortest retry).
  { mode: "500", reason: "http-error", answers: 8, convergeMs: 10_000 },
  // Consul's own rate limit (limits.http_max_conns_per_client): any non-2xx is an error.
  { mode: "429", reason: "http-error", answers: 3, convergeMs: 10_000 },
  { mode: "garbage", reason: "bad-answer", answers: 3, convergeMs: 10_000 },
]);
