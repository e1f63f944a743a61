// One HTTP GET on a new connection (`connection: close`): a connection kept
// alive from before a reload would be served by the old worker once more.
import { request } from "node:http";

export interface HttpAnswer {
  status: number;
  body: string;
}

export function httpGet(port: number, path: string, options: { host?: string; localAddress?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: "close", ...(options.host === undefined ? {} : { host: options.host }) };
    const outgoing = request({ host: "127.0.0.1", port, path, headers, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}
