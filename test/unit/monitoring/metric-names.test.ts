// The alert rules and the Grafana dashboard in monitoring/ may only name
// metrics that the handler's /metrics serves: a renamed or dropped metric
// would leave an alert that never fires and a panel that stays empty. The
// names are taken from the handler's own registry (HandlerMetrics, with
// prom-client's default process_* and nodejs_* metrics), as /metrics renders it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { HandlerMetrics } from "../../../handler/metrics/handler-metrics.js";

/** The repository's monitoring/ folder, found upwards from this file (it runs from dist/test/...). */
function monitoringDir(): string {
  for (let directory = dirname(fileURLToPath(import.meta.url)); directory !== dirname(directory); directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json")) && existsSync(join(directory, "monitoring"))) return join(directory, "monitoring");
  }
  assert.fail("monitoring/ not found above this test file");
}

/** Names of the metrics the handler's registry exports: every sample name and every # TYPE name. */
async function exportedMetricNames(): Promise<Set<string>> {
  const text = await new HandlerMetrics().registry.render();
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const typeLine = /^# TYPE (\S+) /.exec(line);
    if (typeLine?.[1] !== undefined) names.add(typeLine[1]);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1] !== undefined) names.add(sample[1]);
  }
  return names;
}

/** The handler's and prom-client's default metric names a PromQL expression names. */
function namesIn(expression: string): string[] {
  return [...expression.matchAll(/\b(?:consul_haproxy_handler|process|nodejs)_[a-z0-9_]+\b/g)].map((match) => match[0]);
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

function ruleExpressions(): { where: string; expr: string }[] {
  const rules = parse(readFileSync(join(monitoringDir(), "consul-haproxy-handler.rules.yml"), "utf8")) as RuleFile;
  return rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `rule ${rule.alert ?? rule.record ?? "?"}`, expr: String(rule.expr) })));
}

interface Dashboard {
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query?: unknown }[] };
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(monitoringDir(), "grafana-dashboard.json"), "utf8")) as Dashboard;
  return [
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))),
    ...dashboard.templating.list.filter((variable) => typeof variable.query === "string").map((variable) => ({ where: `variable $${variable.name}`, expr: String(variable.query) })),
  ];
}

function unknownNames(expressions: { where: string; expr: string }[], exported: Set<string>): string[] {
  return expressions.flatMap(({ where, expr }) => namesIn(expr).filter((name) => !exported.has(name)).map((name) => `${where}: ${name}`));
}

describe("monitoring/ names only metrics the handler exports", () => {
  test("the registry's names are read (histograms with their _bucket, labelled counters at 0)", async () => {
    const exported = await exportedMetricNames();
    for (const name of ["consul_haproxy_handler_consul_trusted", "consul_haproxy_handler_reconcile_duration_seconds_bucket", "consul_haproxy_handler_reconciles_total", "process_resident_memory_bytes"]) {
      assert.ok(exported.has(name), `${name} is not in the registry's output`);
    }
    assert.ok(!exported.has("consul_haproxy_handler_no_such_metric"));
  });

  test("every alert rule's expression", async () => {
    const expressions = ruleExpressions();
    assert.ok(expressions.filter(({ expr }) => namesIn(expr).length > 0).length >= 6, "the rules name the handler's metrics");
    assert.deepEqual(unknownNames(expressions, await exportedMetricNames()), []);
  });

  test("every dashboard panel's query and variable", async () => {
    const expressions = dashboardExpressions();
    assert.ok(expressions.length >= 10, "the dashboard has its panels' queries");
    assert.deepEqual(unknownNames(expressions, await exportedMetricNames()), []);
  });

  test("a name the handler does not export is reported", async () => {
    const exported = await exportedMetricNames();
    assert.deepEqual(unknownNames([{ where: "rule X", expr: 'consul_haproxy_handler_slotz{use="free"} < 2 and nodejs_heap_size_total_bytes > 0' }], exported), ["rule X: consul_haproxy_handler_slotz"]);
  });
});
