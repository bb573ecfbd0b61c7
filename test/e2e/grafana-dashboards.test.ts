import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it, test } from "node:test";
import { parser } from "@prometheus-io/lezer-promql";
import { startFleet } from "../../device-sim/fleet.js";
import { DEFAULT_CONFIG_YAML } from "../../gateway/config/defaults.js";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startTestGateway } from "../helpers/gateway-inproc.js";
import { REPO } from "../helpers/gateway-process.js";

/**
 * deploy/grafana/*.json: every panel's PromQL parses with Prometheus's own
 * grammar, and returns data from a real Prometheus that received a simulated
 * fleet through two gateways (the default config and the Flink demo example)
 * and scraped both gateways' /metrics.
 */
const DIR = join(REPO, "deploy", "grafana");
interface Panel {
  id: number;
  title: string;
  type: string;
  targets?: { expr: string }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}
const dashboards: Dashboard[] = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), "utf8")) as Dashboard);

/** Grafana's variables as a user with "All" selected would send them. */
function substitute(expr: string): string {
  return expr.replaceAll("$__rate_interval", "30s").replaceAll("$__range", "5m").replace(/\$\{?([A-Za-z_]\w*)\}?/g, ".*");
}

function queries(d: Dashboard): { panel: string; expr: string }[] {
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: `${d.title} / ${p.title}`, expr: substitute(t.expr) })));
}

/** The first syntax error lezer finds, as "at offset N: …", or null. */
function parseError(expr: string): string | null {
  let err: string | null = null;
  parser.parse(expr).iterate({
    enter(n) {
      if (err === null && n.type.isError) err = `at offset ${n.from}: ${JSON.stringify(expr.slice(Math.max(0, n.from - 10), n.to + 10))}`;
    },
  });
  return err;
}

test("the two dashboards exist, with unique panel ids and a query on every graph", () => {
  assert.deepEqual(dashboards.map((d) => d.title).sort(), ["edgegate", "fleet"]);
  for (const d of dashboards) {
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${d.title}: duplicate panel ids`);
    for (const p of d.panels.filter((x) => x.type !== "row")) assert.ok((p.targets ?? []).length > 0, `${d.title} / ${p.title} has no query`);
  }
});

test("every panel's PromQL parses (lezer-promql, Prometheus's grammar)", () => {
  const all = dashboards.flatMap(queries);
  assert.ok(all.length >= 30);
  const bad = all.map((q) => ({ ...q, err: parseError(q.expr) })).filter((q) => q.err !== null);
  assert.deepEqual(bad, []);
  // The check can fail: a broken expression is reported.
  assert.notEqual(parseError("sum by (instance (rate(x[5m]))"), null);
});

describe("every panel returns data after a device-sim run", { skip: prometheusAvailable() ? false : "needs Debian's prometheus binary", timeout: 120_000 }, () => {
  let prom: PrometheusHandle;
  const gateways: Awaited<ReturnType<typeof startTestGateway>>[] = [];

  before(async () => {
    prom = await startPrometheus({ scrape: { job: "edgegate", interval: "1s" } });
    const body = (yaml: string) =>
      yaml
        .replace(/^mqtt:\n  listen: .*\n/m, "")
        .replace(/^http:\n  listen: .*\n/m, "")
        .replace(/^storage:\n  path: .*\n/m, "")
        .replace("http://127.0.0.1:9090/api/v1/write", prom.writeUrl);
    const defaults = await startTestGateway(body(DEFAULT_CONFIG_YAML));
    gateways.push(defaults);
    const flinkYaml = body(readFileSync(join(REPO, "deploy", "examples", "flink-demo.yaml"), "utf8")).replace("file: vehicles.csv", `file: ${join(REPO, "deploy", "examples", "vehicles.csv")}`);
    const flink = await startTestGateway(flinkYaml);
    gateways.push(flink);
    prom.scrapeTargets(gateways.map((g) => g.gw.httpAddress()));
    const port = (g: (typeof gateways)[number]) => g.gw.mqttAddress().split(":").at(-1);
    const runs = await Promise.all([
      startFleet({ url: `mqtt://127.0.0.1:${port(defaults)}`, vehicles: 6, intervalMs: 250, durationMs: 4000, seed: 5, fleets: 2 }),
      startFleet({ url: `mqtt://127.0.0.1:${port(flink)}`, vehicles: 40, intervalMs: 1000, ratePerS: 400, durationMs: 4000, seed: 6, mode: "flink-events" }),
    ]);
    await Promise.all(runs.map((r) => r.done));
    // Close the open windows now instead of waiting for them, and deliver.
    for (const g of gateways) {
      g.gw.flushNow(true);
      await g.gw.drained();
    }
    // A few more scrapes, so rate() over 30 s has points after the traffic.
    await new Promise((r) => setTimeout(r, 4000));
  });

  after(async () => {
    for (const g of gateways) await g.cleanup();
    await prom?.close();
  });

  for (const d of dashboards) {
    it(`${d.title}: every query returns at least one series`, async () => {
      const empty: string[] = [];
      for (const q of queries(d)) {
        const r = await prom.query(q.expr);
        if (r.length === 0) empty.push(`${q.panel}: ${q.expr}`);
      }
      assert.deepEqual(empty, []);
      assert.ok(queries(d).length >= 10);
    });

    it(`${d.title}: every template variable's label_values() finds values`, async () => {
      for (const v of d.templating.list.filter((x) => x.type === "query")) {
        const q = typeof v.query === "string" ? v.query : v.query!.query;
        const m = /^label_values\((.+), (\w+)\)$/.exec(q);
        assert.ok(m, `${d.title} variable ${v.name}: ${q}`);
        const series = await fetch(`${prom.url}/api/v1/series?${new URLSearchParams({ "match[]": m[1]! })}`).then((r) => r.json() as Promise<{ data: Record<string, string>[] }>);
        assert.ok(series.data.some((s) => s[m[2]!] !== undefined), `${d.title} variable ${v.name}: no ${m[2]} on ${m[1]}`);
      }
    });
  }
});
