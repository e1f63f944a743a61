// A runtime setting added through the slot-settings table only (check-port):
// the planner, the reader, the cache, the applier and the slots file handle
// it with no code of their own.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planReconcile } from "../../../handler/planner/plan.js";
import type { Endpoint, PlannerPolicy } from "../../../handler/planner/model.js";
import { applyOperation } from "../../../handler/haproxy-state/cache.js";
import { planCommands } from "../../../handler/applier/apply.js";
import { renderSlotsFile } from "../../../handler/slots-file/render.js";
import { slotsFromRuntime } from "../../../handler/haproxy-state/slots.js";
import { freeSlot } from "../slot-fixtures.js";

const policy: PlannerPolicy = {
  backends: [{ backend: "be", role: "default", serviceName: "iri", classes: [{ prefix: "srv", scheme: "http", sslVerify: true, timeoutClass: "default", growKeywords: [], growLimit: 0 }], defaults: { weight: 1, maxconn: 0 } }],
  warningAs: "ready",
  drainSeconds: 30,
  holdDownUntilChecked: false,
  maxWeight: 256,
};
const node: Endpoint = { serviceName: "iri", serviceId: "a", node: "n", address: "10.0.0.1", port: 80, health: "passing", settings: { pow: "false", scheme: "http", sslVerify: true, timeoutClass: "default", checkPort: 9000 } };

describe("check-port through the slot-settings table", () => {
  test("a fill sets it, the command is sent, the cache records it, the slots file writes it, the reader reads it", () => {
    const slot = freeSlot("be", 1, "srv", { checkPort: 80 });
    const plan = planReconcile([node], [slot], policy);
    assert.deepEqual(plan.steps[0]?.prepare, [{ kind: "set-addr", address: "10.0.0.1", port: 80 }, { kind: "set-check-port", checkPort: 9000 }]);
    assert.deepEqual(planCommands(plan.steps).slice(0, 2), ["set server be/srv1 addr 10.0.0.1 port 80", "set server be/srv1 check-port 9000"]);
    for (const operation of [...(plan.steps[0]?.prepare ?? []), ...(plan.steps[0]?.activate ?? [])]) applyOperation(slot, operation);
    assert.equal(slot.checkPort, 9000);
    assert.deepEqual(planReconcile([node], [slot], policy).steps, [], "nothing left to do");
    const file = renderSlotsFile("backend be\n    server-template srv 1 0.0.0.0:80 check port 80 disabled\n", [slot], new Map([["be", ["srv"]]]), "t");
    assert.match(file, /server srv1 10\.0\.0\.1:80 check weight 1 port 9000$/m);
    const [read] = slotsFromRuntime(
      [{ backendId: 1, backendName: "be", serverId: 1, serverName: "srv1", address: "10.0.0.1", operationalState: 2, adminState: 0, userWeight: 1, initialWeight: 1, secondsSinceLastChange: 1, checkStatus: 0, checkResult: 0, checkHealth: 0, checkState: 0, agentState: 0, port: 80, useSsl: false, checkPort: 9000 }],
      [],
      new Map([["be", ["srv"]]]),
    );
    assert.equal(read?.checkPort, 9000);
  });
});
