// A private CA made with openssl for tests: a root, and leaf certificates it
// signs (for a TLS server such as pebble's directory, or as a CA's answer in
// a unit test). Debian's pebble ships no certificate for its own listener.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TinyCa {
  directory: string;
  /** The root certificate's file (PEM), to trust. */
  caFile: string;
  caPem: string;
  /** A leaf for `names` (DNS names, or IP addresses) valid for `days` (at least 1) from now. */
  issue(names: readonly string[], days?: number): { certFile: string; keyFile: string; certPem: string; keyPem: string };
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

export function makeTinyCa(name = "Tiny Test CA"): TinyCa {
  const directory = mkdtempSync(join(tmpdir(), "cht-tiny-ca-"));
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", `/CN=${name}`], directory);
  let serial = 0;
  return {
    directory,
    caFile: join(directory, "ca.pem"),
    caPem: readFileSync(join(directory, "ca.pem"), "utf8"),
    issue(names, days = 30) {
      serial += 1;
      const stem = `leaf-${serial}`;
      const san = names.map((entry) => (/^[0-9.]+$/.test(entry) ? `IP:${entry}` : `DNS:${entry}`)).join(",");
      writeFileSync(join(directory, `${stem}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${stem}.key`, "-out", `${stem}.csr`, "-subj", `/CN=${names[0] ?? "leaf"}`], directory);
      openssl(["x509", "-req", "-in", `${stem}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(serial + 1000), "-days", String(Math.max(1, days)), "-extfile", `${stem}.ext`, "-out", `${stem}.pem`], directory);
      return {
        certFile: join(directory, `${stem}.pem`),
        keyFile: join(directory, `${stem}.key`),
        certPem: readFileSync(join(directory, `${stem}.pem`), "utf8"),
        keyPem: readFileSync(join(directory, `${stem}.key`), "utf8"),
      };
    },
  };
}
