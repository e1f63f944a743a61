// The handler's version, from package.json: dist/handler/version.js when
// built, handler/version.ts when run from the sources.
import { existsSync, readFileSync } from "node:fs";

export function packageVersion(): string {
  const manifest = [new URL("../../package.json", import.meta.url), new URL("../package.json", import.meta.url)].find((url) => existsSync(url));
  return manifest ? (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version : "unknown";
}
