// Consul's answer cut short, or never coming, through the fault proxy in
// front of a real Consul, with `run` driving a real HAProxy (see fault-cases.ts).
import { describeFaults } from "./fault-cases.js";

describeFaults("Consul answers cut short or stalled under run", [
  // On the old papi-based read this was silent until the ~330 s request timeout.
  { mode: "truncated", reason: "truncated", answers: 3, convergeMs: 10_000 },
  // A stalled read is abandoned after wait (2 s) + wait/16 + timeoutMs (1 s).
  { mode: "stall", reason: "timeout", answers: 2, convergeMs: 15_000 },
]);
