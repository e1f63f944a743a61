// `haproxy -c` over the whole configuration HAProxy would load at its next
// reload (the operator's files and the staged portmap): a rendering HAProxy
// would refuse never reaches the file it loads, and no reload is asked for.
import { execFile } from "node:child_process";

export class HaproxyCheckFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HaproxyCheckFailed";
  }
}

/** What to quote of HAProxy's output: its alerts (the reasons), else its last lines. */
export function checkOutputReason(output: string): string {
  const lines = output.trim().split("\n").filter((line) => line.trim() !== "");
  const alerts = lines.filter((line) => line.includes("[ALERT]"));
  return (alerts.length > 0 ? alerts : lines).slice(-6).join(" | ").slice(0, 1500);
}

/** Resolves when `haproxy -c` accepts these files in this order; throws HaproxyCheckFailed with HAProxy's own words. */
export function checkConfiguration(binary: string, files: readonly string[], timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    // Not -q: HAProxy 2.6 then keeps its alerts to itself, and the refusal would say no reason.
    execFile(binary, ["-c", ...files.flatMap((file) => ["-f", file])], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) return resolve();
      const said = checkOutputReason(`${stdout}\n${stderr}`);
      reject(new HaproxyCheckFailed(`'${binary} -c' refused the configuration with the rendered portmap (${files.join(", ")}): ${said || error.message}`));
    });
  });
}
