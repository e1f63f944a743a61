// A TCP proxy in front of HAProxy's admin socket that can hold the traffic
// from the handler once it sees a given command. Tests use it to put a batch
// "in flight" on purpose (sent by the handler, not yet run by HAProxy) and
// act at that moment, instead of hoping a fixed sleep lands there.
import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { after } from "node:test";

export interface GateProxy {
  /** host:port the handler should use as its admin socket. */
  address: string;
  /** From now on, hold everything a client sends once a chunk matches `pattern`. */
  arm(pattern: RegExp): void;
  /** Resolves with the held text when the armed pattern was seen and held. */
  held(): Promise<string>;
  /** Forwards everything held and stops holding. */
  release(): void;
  close(): Promise<void>;
}

export async function startGateProxy(target: { host: string; port: number }): Promise<GateProxy> {
  let pattern: RegExp | undefined;
  let holding = false;
  const waiting: { socket: Socket; chunk: Buffer }[] = [];
  let notifyHeld: ((text: string) => void) | undefined;
  let heldPromise = new Promise<string>((resolve) => (notifyHeld = resolve));
  const sockets = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    client.on("data", (chunk: Buffer) => {
      if (!holding && pattern && pattern.test(chunk.toString("latin1"))) {
        holding = true;
        notifyHeld?.(chunk.toString("latin1"));
      }
      if (holding) waiting.push({ socket: upstream, chunk });
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", () => {
      // A client that went away while held: its commands never reach HAProxy.
      if (!holding) closeBoth();
    });
    upstream.on("close", closeBoth);
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const proxy: GateProxy = {
    address: `127.0.0.1:${port}`,
    arm(next) {
      pattern = next;
      heldPromise = new Promise<string>((resolve) => (notifyHeld = resolve));
    },
    held: () => heldPromise,
    release() {
      pattern = undefined;
      holding = false;
      for (const { socket, chunk } of waiting.splice(0)) if (!socket.destroyed) socket.write(chunk);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  after(() => proxy.close());
  return proxy;
}
