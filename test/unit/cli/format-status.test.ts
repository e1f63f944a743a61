// `status`'s text form, from a report built by hand (collectStatus, which
// reads HAProxy and Consul, is covered by the integration suite).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatStatus, type SlotStatus, type StatusReport } from "../../../handler/cli/status.js";

function slot(overrides: Partial<SlotStatus>): SlotStatus {
  return { backend: "iri_back", slot: "irisrv1", state: "ready", status: "UP", address: "10.0.0.1:14265", weight: 1, maxconn: 0, sessions: 0, serviceId: "iri-1", health: "passing", ...overrides };
}

const freeSlot = (name: string): SlotStatus => slot({ slot: name, state: "maint", status: "MAINT", address: null, weight: null, maxconn: null, serviceId: null, health: null });

function report(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    consul: { trusted: true },
    backends: [
      {
        backend: "iri_back",
        used: 2,
        free: 2,
        slots: [slot({}), slot({ slot: "irisrv2", address: "[fd00::2]:14265", weight: 3, maxconn: 7, sessions: 4, serviceId: "iri-2", health: "warning" }), freeSlot("irisrv3"), freeSlot("irisrv4")],
        leftOut: [{ serviceId: "iri-9", reason: "no free slot" }],
      },
    ],
    massRemovalHeld: [],
    versions: [],
    ...overrides,
  };
}

describe("status text", () => {
  test("one aligned table per backend; free maint slots summarised; nodes left out named", () => {
    assert.equal(
      formatStatus(report()),
      [
        "backend iri_back: 2 used, 2 free of 4 slots",
        "  SLOT     STATE  STATUS  ADDRESS          WEIGHT  MAXCONN  SESS  SERVICE ID  HEALTH",
        "  irisrv1  ready  UP      10.0.0.1:14265   1       -        0     iri-1       passing",
        "  irisrv2  ready  UP      [fd00::2]:14265  3       7        4     iri-2       warning",
        "  (2 empty slots in maint not shown; --all lists them)",
        "  left out: iri-9: no free slot",
        "",
      ].join("\n"),
    );
  });

  test("--all lists the free slots too", () => {
    const text = formatStatus(report(), { all: true });
    assert.match(text, /^ {2}irisrv3 {2}maint {2}MAINT {3}- +- +- +0 +- +-$/m);
    assert.doesNotMatch(text, /not shown/);
  });

  test("while Consul is not trusted: a warning first, and health shown as unknown", () => {
    const text = formatStatus(report({ consul: { trusted: false, problem: "no known leader" }, backends: [{ backend: "iri_back", used: 1, free: 0, slots: [slot({ serviceId: null, health: null })], leftOut: [] }] }));
    const lines = text.split("\n");
    assert.equal(lines[0], "WARNING: Consul view unavailable, service IDs and health unknown: no known leader");
    assert.match(lines.find((line) => line.includes("irisrv1")) ?? "", /-\s+\?$/);
  });

  test("a held mass removal and the versions of each service are shown before the slots", () => {
    const text = formatStatus(
      report({
        massRemovalHeld: [{ backend: "iri_back", since: "2026-11-26T05:00:00.000Z", releasesAt: "2026-11-26T05:05:00.000Z", slots: "irisrv1,irisrv2" }],
        versions: [
          {
            service: "iri",
            serving: "1.0.x",
            canary: "1.1.x",
            promoted: "1.0.x",
            generations: [
              { generation: "1.0.x", role: "serving", instances: 2, healthy: 2 },
              { generation: "2.0.x", role: "waiting", instances: 3, healthy: 1 },
            ],
          },
        ],
        backends: [{ backend: "iri_back", used: 1, free: 0, slots: [slot({ version: "1.0.1", role: "serving" })], leftOut: [] }],
      }),
    );
    const lines = text.split("\n");
    assert.match(lines[0] ?? "", /^WARNING: mass removal held in iri_back since 2026-11-26T05:00:00.000Z: .* until 2026-11-26T05:05:00.000Z .*: irisrv1,irisrv2$/);
    assert.equal(lines[2], "service iri: serving 1.0.x (promoted 1.0.x), canary 1.1.x, waiting 2.0.x (1/3 healthy)");
    assert.match(lines.find((line) => line.includes("SLOT")) ?? "", /HEALTH +VERSION {2}ROLE$/, "version columns only with versioning on");
    assert.match(lines.find((line) => line.startsWith("  irisrv1")) ?? "", /passing {2}1\.0\.1 {4}serving$/);
  });
});
