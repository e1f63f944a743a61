// HAProxy restart -> every slot back with its maxconn, with `run`.
// 2,000 instances of one service, each in both backends (haproxy_pow=true)
// with its own maxconn (haproxy_maxconn=50, haproxy_pow_maxconn=5): a
// restarted HAProxy starts every slot empty, in MAINT, without maxconn (a
// state file would not restore addresses nor maxconn: README "Reloads and
// restarts"). Two clocks: from the new HAProxy's admin socket answering (the
// earliest the handler can act; the target; the first answered probe's send
// time, probed every millisecond) and from the kill.
// "Back" = every instance at its address in both backends, out of MAINT, with
// its maxconn (`slim`), read by polling both backends every 10 ms.
import { inMaint, ms, now, registerInstances, report, serverStates, startCli, startHandlerStack, statRows, untilBackend, type HandlerStack } from "./lib.js";

const INSTANCES = 2000;

async function everySlotBack(stack: HandlerStack, timeoutMs: number): Promise<number> {
  const settled = async (backend: string, maxconn: string): Promise<number> => {
    for (;;) {
      await untilBackend(stack.admin, `show servers state ${backend}`, serverStates, (rows) => rows.filter((state) => !inMaint(state) && state.address.startsWith("127.")).length === INSTANCES, timeoutMs, 10);
      const rows = statRows(await stack.admin.query(`show stat ${backend} 4 -1`));
      const at = now();
      if (rows.filter((row) => row["svname"]?.startsWith("srv") && row["slim"] === maxconn && !(row["addr"] ?? "").startsWith("0.0.0.0")).length === INSTANCES) return at;
    }
  };
  const defaultBack = await settled("be1", "50");
  const powBack = await settled("powbe1", "5");
  return Math.max(defaultBack, powBack);
}

export async function restartBenchmark(quick: boolean): Promise<void> {
  const restarts = quick ? 1 : 3;
  const stack = await startHandlerStack({ slots: INSTANCES, shape: "shipped" });
  const shape = `${stack.shape}, ${INSTANCES} instances each in both backends (every slot filled), maxconn 50 / PoW 5`;
  console.log(`restart, ${shape}`);
  const cli = startCli(["--config", stack.configFile, "run"]);
  try {
    await registerInstances(stack.consul, INSTANCES, (index) => ({
      node: `r-${index}`,
      address: `127.0.${Math.floor(index / 250) + 1}.${(index % 250) + 1}`,
      service: "svc1",
      id: `r-${index}`,
      port: 14265,
      meta: { haproxy_maxconn: "50", haproxy_pow: "true", haproxy_pow_maxconn: "5" },
    }));
    await everySlotBack(stack, 180_000);
    const sinceUp: number[] = [];
    const sinceKill: number[] = [];
    for (let restart = 0; restart < restarts; restart += 1) {
      const killed = now();
      // The clock starts when the first probe HAProxy answered was sent
      // (probed every millisecond), not when restart() returned: that would
      // start it up to a poll interval and a round trip late.
      const answering = await stack.haproxy.restart({ readinessPollMs: 1 });
      const back = await everySlotBack(stack, 60_000);
      sinceUp.push(back - answering);
      sinceKill.push(back - killed);
      console.log(`  restart ${restart + 1}: every slot back ${ms(back - answering)} ms after the new HAProxy answered (${ms(back - killed)} ms after the kill)`);
    }
    const worst = Math.max(...sinceUp);
    report({
      figure: "HAProxy restart -> every slot back with its maxconn (from the new HAProxy answering)",
      shape,
      target: "<= 1000 ms at 2000 slots per backend",
      measured: `${restarts === 1 ? "" : "worst of " + restarts + ": "}${ms(worst)} ms (${ms(Math.max(...sinceKill))} ms from the kill)`,
      met: worst <= 1000,
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\nhandler log: ${cli.logs().slice(-1500)}`);
  } finally {
    await cli.stop();
    await stack.stop();
  }
}
