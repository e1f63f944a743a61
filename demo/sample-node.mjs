// A stand-in for a node: answers every request with its name (and its
// version, when given) as JSON, and GET /health with 200 (HAProxy's and
// Consul's checks use it).
// Usage: node demo/sample-node.mjs <name> <port> [version]
import { createServer } from "node:http";

const [name = "node", port = "0", version] = process.argv.slice(2);
createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(request.url === "/health" ? '{"ok":true}\n' : `${JSON.stringify(version === undefined ? { node: name, url: request.url } : { node: name, version, url: request.url })}\n`);
  });
}).listen(Number(port), "127.0.0.1");
