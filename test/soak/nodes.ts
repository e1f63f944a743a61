// The soak's nodes in one child process: one HTTP listener per port given on
// the command line, each answering every request with 200 and its name (and
// GET /health, HAProxy's check, with 200). A process of their own, so that the
// soak's own event loop (load, checks, faults) never slows their answers.
// Usage: node dist/test/soak/nodes.js <name>=<port>...
import { createServer } from "node:http";

for (const argument of process.argv.slice(2)) {
  const [name = "node", port = "0"] = argument.split("=");
  createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(request.url === "/health" ? '{"ok":true}\n' : `${JSON.stringify({ node: name })}\n`);
    });
  }).listen(Number(port), "127.0.0.1");
}
// The soak keeps our stdin open; when it ends (the soak exited, even killed), so do we.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
