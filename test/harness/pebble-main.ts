// pebble (pebble.ts) for the shell suites: the playbook test starts it on the
// host, where the container's handler orders from it over the container's
// veth link. Writes what the suite needs to `--out` as JSON once pebble
// answers, and runs until SIGTERM or SIGINT.
//
//   node dist/test/harness/pebble-main.js --http-port 18082 \
//     --listen 10.231.40.1 --answer 10.231.40.2 --out /tmp/pebble.json
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startPebble } from "./pebble.js";

const { values } = parseArgs({
  options: {
    "http-port": { type: "string" },
    listen: { type: "string", default: "127.0.0.1" },
    answer: { type: "string", default: "127.0.0.1" },
    out: { type: "string" },
  },
});
const httpPort = Number(values["http-port"]);
const out = values.out;
if (!Number.isInteger(httpPort) || httpPort <= 0 || out === undefined) {
  console.error("usage: pebble-main --http-port PORT --out FILE [--listen ADDRESS] [--answer ADDRESS]");
  process.exit(2);
}

const pebble = await startPebble({ httpPort, listenHost: values.listen, answerIPv4: values.answer });
writeFileSync(out, `${JSON.stringify({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, commands: pebble.commands })}\n`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  // What pebble said goes to this process's output: the suite keeps it for a failure's report.
  process.stdout.write(pebble.log());
  void pebble.stop().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
