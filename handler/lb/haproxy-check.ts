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

/** Resolves when `haproxy -c` accepts these files in this order; throws HaproxyCheckFailed with HAProxy's own words. */
export function checkConfiguration(binary: string, files: readonly string[], timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, ["-c", "-q", ...files.flatMap((file) => ["-f", file])], { timeout: timeoutMs }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const said = stderr.trim().split("\n").slice(-6).join(" | ").slice(0, 1500);
      reject(new HaproxyCheckFailed(`'${binary} -c' refused the configuration with the rendered portmap (${files.join(", ")}): ${said || error.message}`));
    });
  });
}
