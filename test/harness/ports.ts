// Free TCP ports on loopback for tests and benchmarks.
//
// A port that was free when probed is only reserved by luck until the real
// server binds it. Ports from the kernel's ephemeral range (what binding port
// 0 hands out) are the unlucky ones: any outgoing connection, such as an
// HAProxy health check or a Consul blocking query, may take one as its local
// port in the meantime (seen: EADDRINUSE on a port probed free). So pick
// random ports below that range, probe each, and never hand one out twice.
import { createServer } from "node:net";
import { readFileSync } from "node:fs";

const handedOut = new Set<number>();

/** The ports to pick from: below the ephemeral range, or none if it starts too low. */
function candidateRange(): { low: number; high: number } | undefined {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: keep the usual default.
  }
  const low = 10000;
  const high = ephemeralLow - 1;
  return high - low >= 1000 ? { low, high } : undefined;
}

function canBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

const range = candidateRange();

export async function freePort(): Promise<number> {
  for (let attempt = 0; range && attempt < 200; attempt += 1) {
    const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
    if (handedOut.has(port)) continue;
    if ((await canBind(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  // Fall back to whatever the kernel gives.
  const port = await canBind(0);
  if (port === undefined) throw new Error("cannot bind any port on 127.0.0.1");
  handedOut.add(port);
  return port;
}

export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort());
  return ports;
}
