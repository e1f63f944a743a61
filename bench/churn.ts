// Benchmark 4: traffic during churn. wrk sends keep-alive traffic through
// HAProxy while `run` follows Consul and every node is replaced one by one:
// start a new node, register it, wait until HAProxy has it UP (its own check
// passed), deregister the old one, wait until its slot is freed (drained,
// then maint), and only then stop the old node's process.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort, now, parseWrk, report, repositoryRoot, startCli, startHandlerStack, startWrk, statRows, untilBackend, type HandlerStack } from "./lib.js";

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

type Row = Record<string, string>;

export async function churnBenchmark(quick: boolean): Promise<void> {
  const seconds = quick ? 15 : 60;
  const nodeCount = 8;
  // The shipped shape with faster checks, so each replacement takes a second, not ten.
  const stack = await startHandlerStack({ slots: 20, shape: "shipped", checkTimings: "inter 200ms rise 1 fall 2", drainSeconds: 5 });
  console.log(`churn, ${stack.shape}`);
  const cli = startCli(["--config", stack.configFile, "run"]);
  const until = (done: (rows: Row[]) => boolean, timeoutMs = 30_000) => untilBackend(stack.admin, "show stat be1 4 -1", statRows, done, timeoutMs, 5);
  const upAt = (port: number) => (rows: Row[]) => rows.some((row) => row["addr"] === `127.0.0.1:${port}` && row["status"] === "UP");
  const freed = (port: number) => (rows: Row[]) => !rows.some((row) => row["addr"] === `127.0.0.1:${port}` && row["status"] !== "MAINT");
  let generation = 0;
  let live: Node[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const node = await startNode(`g0-n${i}`);
    await register(stack, node);
    live.push(node);
  }
  for (const node of live) await until(upAt(node.port));

  const wrk = startWrk(["-t2", "-c32", "--timeout", "10s", `-d${seconds}s`, `http://127.0.0.1:${stack.frontendPort}/`]);
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
      await until(upAt(fresh.port));
      await stack.consul.deregister(old.id);
      await until(freed(old.port));
      old.process.kill();
      next.push(fresh);
      replaced += 1;
    }
    live = next;
  }
  const wrkExit = await wrk.done;
  for (const node of live) node.process.kill();
  await cli.stop();
  await stack.stop();
  const figures = parseWrk(wrk.output(), wrkExit);
  const clean = figures.non2xx === 0 && figures.socketErrors === "none";
  report({
    figure: `churn under load: wrk -t2 -c32 --timeout 10s keep-alive for ${seconds} s while ${replaced} node replacements run (${nodeCount} nodes, ${generation} generation(s))`,
    shape: `${stack.shape}, ${nodeCount} instances`,
    target: "0 non-2xx, 0 socket errors",
    measured: `${figures.requests} requests, ${figures.non2xx} non-2xx, socket errors: ${figures.socketErrors}`,
    met: clean && replaced > 0,
  });
}
