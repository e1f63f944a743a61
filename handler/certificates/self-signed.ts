// The placeholder served for a list of names until a CA issues its
// certificate (issue 18, as Moirai did): self-signed, ten years, made once by
// openssl, which every Debian load balancer has and whose output HAProxy
// reads as it is. The key goes through a pipe, never a file of its own.
import { execFile } from "node:child_process";
import { joinBundle } from "./pem.js";

// A subject CN is at most 64 characters; a longer first name is in the SANs only.
const MAX_CN = 64;

function run(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { encoding: "utf8", timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout);
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      // openssl's stderr names files and options, never the key (which goes to stdout).
      reject(new Error(missing ? "openssl is not installed: the self-signed placeholder certificate needs it (apt-get install openssl)" : `openssl could not make a self-signed certificate: ${stderr.trim().split("\n").slice(-2).join(" ")}`));
    });
  });
}

/** A self-signed certificate and its new key for `names` (first name as CN when it fits), as one PEM bundle. */
export async function selfSignedBundle(names: readonly string[]): Promise<string> {
  const [first] = names;
  if (first === undefined) throw new Error("a self-signed certificate needs at least one name");
  const subject = first.length <= MAX_CN ? `/CN=${first}` : "/";
  const output = await run([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    // -nodes: the key is not encrypted (HAProxy loads it unattended); -noenc is OpenSSL 3 only.
    // "-": both to stdout (a socket under node, where /dev/stdout cannot be opened).
    "-nodes", "-keyout", "-", "-out", "-", "-days", "3650",
    "-subj", subject, "-addext", `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`,
  ]);
  return joinBundle(output, output);
}
