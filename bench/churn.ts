// Benchmark 4: traffic during churn. wrk sends keep-alive traffic through
// HAProxy while `run` follows Consul and every node is replaced one by one:
// start a new node, register it, wait until HAProxy has it UP (its own check
// passed), deregister the old one, wait until its slot is freed (drained,
// then maint), and only then stop the old node's process.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort, now, parseWrk, repositoryRoot, startCli, startHandlerStack, StatPoller, type HandlerStack, type StatRow } from "./lib.js";
import { reloadBenchmark } from "./reload.js";

interface Node {
  id: string;
  port: number;
  process: ChildProcess;
}

async function startNode(id: string): Promise<Node> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(repositoryRoot, "demo/sample-node.mjs"), id, String(port)], { stdio: "ignore" });
  // Ready when it answers.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { id, port, process: child };
}

async function register(stack: HandlerStack, node: Node): Promise<void> {
  await stack.consul.register({ ID: node.id, Name: "svc1", Address: "127.0.0.1", Port: node.port, Check: { CheckID: `ttl-${node.id}`, TTL: "1h", Status: "passing" } });
}

export async function churnBenchmark(quick: boolean): Promise<string[]> {
  const seconds = quick ? 15 : 60;
  const nodeCount = 8;
  // The shipped shape with faster checks, so each replacement takes a second, not ten.
  const stack = await startHandlerStack({ slots: 20, shape: "shipped", checkKeywords: "check inter 200ms rise 1 fall 2", drainSeconds: 5 });
  const cli = startCli(["--config", stack.configFile, "run"]);
  const poller = new StatPoller(stack.admin);
  const upAt = (port: number) => (rows: StatRow[]) => rows.some((row) => row["addr"] === `127.0.0.1:${port}` && row["status"] === "UP");
  const freed = (port: number) => (rows: StatRow[]) => !rows.some((row) => row["addr"] === `127.0.0.1:${port}` && row["status"] !== "MAINT");
  let generation = 0;
  let live: Node[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const node = await startNode(`g0-n${i}`);
    await register(stack, node);
    live.push(node);
  }
  for (const node of live) await poller.until("be1", upAt(node.port));

  const wrk = spawn("wrk", ["-t2", "-c32", `-d${seconds}s`, `http://127.0.0.1:${stack.frontendPort}/`], { stdio: ["ignore", "pipe", "pipe"] });
  let wrkOutput = "";
  wrk.stdout.on("data", (chunk: Buffer) => (wrkOutput += chunk.toString()));
  const wrkDone = new Promise<number | null>((resolve) => wrk.once("exit", (code) => resolve(code)));
  const deadline = now() + (seconds - 3) * 1000;
  let replaced = 0;
  while (now() < deadline) {
    generation += 1;
    const next: Node[] = [];
    for (const old of live) {
      if (now() >= deadline) {
        next.push(old);
        continue;
      }
      const fresh = await startNode(`g${generation}-${old.id.split("-")[1]}`);
      await register(stack, fresh);
      await poller.until("be1", upAt(fresh.port));
      await stack.consul.deregister(old.id);
      await poller.until("be1", freed(old.port), 30_000);
      old.process.kill();
      next.push(fresh);
      replaced += 1;
    }
    live = next;
  }
  const wrkExit = await wrkDone;
  for (const node of live) node.process.kill();
  await cli.stop();
  await stack.stop();
  const figures = parseWrk(wrkOutput, wrkExit);
  const line = `${stack.shape} churn under load (wrk -t2 -c32, ${seconds} s, keep-alive): ${figures.requests} requests, ${figures.non2xx} non-2xx, socket errors: ${figures.socketErrors}; ${replaced} node replacements (${nodeCount} nodes, ${generation} generation(s))`;
  console.log(line);
  // Requests lost per HAProxy reload: ours next to the consul-template-style anchor.
  return [line, ...(await reloadBenchmark(quick))];
}
