// A burst of 1,000 catalog registrations -> every slot filled, with `run`, then (full
// runs) the next 1,000 and the 2,000 slots stable. Two clocks per burst: the
// whole burst (from the first registration sent until every slot is filled:
// `run` applies while Consul is still accepting registrations) and the tail
// (from the last registration's return). "Filled" is the handler's part: the
// slot at its address, out of MAINT (held DOWN until HAProxy's own check
// passes), read from the backend's `show servers state` every 5 ms.
import { runCli } from "../test/harness/cli.js";
import { inBatches, inMaint, ms, now, report, serverStates, sleep, startCli, startHandlerStack, untilBackend } from "./lib.js";

export async function burstBenchmark(quick: boolean): Promise<void> {
  const stack = await startHandlerStack({ slots: 2000, shape: "shipped" });
  console.log(`burst, ${stack.shape}`);
  const cli = startCli(["--config", stack.configFile, "run"]);
  const filled = (rows: ReturnType<typeof serverStates>) => rows.filter((state) => !inMaint(state) && state.address.startsWith("127.")).length;
  try {
    await sleep(500);
    for (const [from, to] of [
      [0, 1000],
      [1000, 2000],
    ] as const) {
      if (quick && from > 0) break;
      const ids = Array.from({ length: to - from }, (_, index) => from + index);
      const firstSent = now();
      // One catalog registration per node, 32 in flight: each is its own change in Consul, as when
      // many nodes register at once (one local agent takes agent registrations one by one, ~100/s).
      await inBatches(ids, 32, async (i) => {
        const response = await stack.consul.api("PUT", "/v1/catalog/register", { Node: `b-${i}`, Address: `127.0.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`, Service: { ID: `n${i}`, Service: "svc1", Port: 14265 } });
        if (response.status !== 200) throw new Error(`catalog register of n${i} failed: ${response.status}`);
      });
      const lastReturned = now();
      const allFilled = await untilBackend(stack.admin, "show servers state be1", serverStates, (rows) => filled(rows) === to, 120_000, 5);
      report({
        figure: `burst of 1,000 registrations (slots ${from + 1}-${to} of 2,000): first registration sent -> all filled`,
        shape: stack.shape,
        target: "(reference)",
        measured: `whole ${ms(allFilled - firstSent)} ms (Consul took ${ms(lastReturned - firstSent)} ms to accept them); tail ${ms(allFilled - lastReturned)} ms from the last registration's return`,
      });
    }
    if (!quick) {
      const mapping = async () =>
        serverStates(await stack.admin.query("show servers state be1"))
          .map((state) => `${state.name}=${state.address}`)
          .join(",");
      const before = await mapping();
      await sleep(5000);
      const after = await mapping();
      const dryRun = await runCli(["--config", stack.configFile, "sync", "--dry-run"]);
      const stable = before === after && /nothing to do/.test(dryRun.stdout);
      report({ figure: "2,000 slots filled: stable", shape: stack.shape, target: "same mapping 5 s later, a dry run plans nothing", measured: stable ? "stable" : `NOT stable: ${dryRun.stdout.split("\n").length} planned lines`, met: stable });
    }
  } finally {
    await cli.stop();
    await stack.stop();
  }
}
