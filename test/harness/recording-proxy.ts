// A tiny TCP proxy in front of HAProxy's admin socket that records every
// byte a client sends, so a test can check that nothing but well-formed
// commands ever reached the socket.
import { connect, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface RecordingProxy {
  /** `127.0.0.1:<port>`, for haproxy.socket. */
  address: string;
  /** What each connection sent, in order (one string per connection). */
  sent(): string[];
  close(): Promise<void>;
}

export async function startRecordingProxy(upstreamHost: string, upstreamPort: number): Promise<RecordingProxy> {
  const connections: { text: string }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const record = { text: "" };
    connections.push(record);
    const upstream = connect({ host: upstreamHost, port: upstreamPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      // latin1 keeps every byte as one character: nothing is hidden by decoding.
      record.text += chunk.toString("latin1");
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent: () => connections.map((connection) => connection.text),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
