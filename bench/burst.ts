// Benchmark 2: a burst of registrations -> all slots filled, with `run`;
// then 2,000 slots per backend filled and stable (a dry run plans nothing).
// Two clocks per burst: the whole burst (from the first registration sent
// until every slot is filled: `run` applies while Consul is still accepting
// registrations) and the tail (from the last registration's return).
// "Filled" is the handler's part: the slot at its address, out of MAINT
// (in the shipped shape held DOWN until HAProxy's own check passes).
import { runCli } from "../test/harness/cli.js";
import { inBatches, now, startCli, startHandlerStack, StatPoller, type Shape } from "./lib.js";

async function burstOn(shape: Shape, quick: boolean): Promise<string[]> {
  const lines: string[] = [];
  const stack = await startHandlerStack({ slots: 2000, shape });
  const cli = startCli(["--config", stack.configFile, "run"]);
  const poller = new StatPoller(stack.admin);
  const filled = (rows: { status?: string; svname: string }[]) => rows.filter((row) => row.svname.startsWith("srv") && row.status !== "MAINT" && row.status !== "DRAIN").length;
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const [from, to] of [
      [0, 1000],
      [1000, 2000],
    ] as const) {
      if (quick && from > 0) break;
      const ids = Array.from({ length: to - from }, (_, index) => from + index);
      const firstSent = now();
      await inBatches(ids, 32, async (i) => {
        await stack.consul.register({ ID: `n${i}`, Name: "svc1", Address: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, Port: 14265 });
      });
      const lastReturned = now();
      const allFilled = await poller.until("be1", (rows) => filled(rows) === to, 60_000);
      lines.push(
        `${stack.shape} burst of ${to - from} registrations (slots ${from + 1}-${to} of 2000): whole burst ${((allFilled - firstSent) / 1000).toFixed(3)} s from the first registration to all filled (Consul took ${((lastReturned - firstSent) / 1000).toFixed(2)} s to accept them); tail ${((allFilled - lastReturned) / 1000).toFixed(3)} s from the last registration's return`,
      );
      console.log(lines.at(-1));
    }
    if (!quick) {
      const before = (await stack.admin.showStat("be1")).map((row) => `${row.svname}=${row["addr"]}`).join(",");
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const after = (await stack.admin.showStat("be1")).map((row) => `${row.svname}=${row["addr"]}`).join(",");
      const dryRun = await runCli(["--config", stack.configFile, "sync", "--dry-run"]);
      const stable = before === after && /nothing to do/.test(dryRun.stdout);
      lines.push(`${stack.shape} 2000 slots filled: ${stable ? "stable (same mapping 5 s later, a dry run plans nothing)" : `NOT stable: ${dryRun.stdout.split("\n").length} planned commands`}`);
      console.log(lines.at(-1));
    }
  } finally {
    await cli.stop();
    await stack.stop();
  }
  return lines;
}

export async function burstBenchmarks(quick: boolean): Promise<string[]> {
  return [...(await burstOn("easy", quick)), ...(await burstOn("shipped", quick))];
}
