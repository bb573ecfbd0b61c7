import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startFleet } from "../../device-sim/fleet.js";
import { LedgerWriter } from "../../device-sim/ledger.js";
import { formatReport, verify } from "../../device-sim/verify.js";
import { parseConfig } from "../../gateway/config/load.js";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startVictoriaMetrics, victoriaMetricsAvailable, type VictoriaMetricsHandle } from "../helpers/victoria-metrics.js";
import { startTestGateway } from "../helpers/gateway-inproc.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

/**
 * Many gateways, one scalable backend (docs/scaling.md): two edgegates (one per
 * depot, each with its own external_labels) write at the same time to two
 * Remote-Write backends — a real Prometheus and a real VictoriaMetrics — while
 * the uplink to VictoriaMetrics is down for a while. Afterwards both backends
 * hold everything each depot's fleet sent: `device-sim verify` passes for each
 * depot's ledger against each backend.
 */
const skip = !prometheusAvailable() ? "needs Debian's prometheus binary" : !victoriaMetricsAvailable() ? "needs Debian's victoria-metrics binary" : false;

const PIPELINE = (depot: string) => `
external_labels: {depot: ${depot}}
topics:
  - topic: "${depot}/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  - match: '{__name__=~"vehicle_(speed_kmh|rpm)"}'
    interval: 2s
    by: [fleet]
    outputs: [avg, max, count_samples]
    allowed_lateness: 1s
forward_unmatched: true
`;

describe("two gateways, two backends (Prometheus and VictoriaMetrics), one uplink down for a while", { skip, timeout: 180_000 }, () => {
  let prom: PrometheusHandle;
  let vm: VictoriaMetricsHandle;
  let proxy: TcpProxy;
  let dir: string;
  const depots = ["depot-a", "depot-b"];
  const ledgers = new Map<string, string>();
  const configs = new Map<string, string>();
  let refused = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgegate-many-"));
    [prom, vm] = await Promise.all([startPrometheus({ outOfOrderWindow: "1h" }), startVictoriaMetrics()]);
    proxy = await startTcpProxy(vm.port);
    const gateways = [];
    for (const depot of depots) {
      const yaml = `${PIPELINE(depot)}remote_write:\n  - {url: "${prom.writeUrl}", name: prometheus}\n  - {url: "${proxy.url("/api/v1/write")}", name: victoria, queue_config: {min_backoff: 100ms, max_backoff: 500ms}}\n`;
      configs.set(depot, `${PIPELINE(depot)}remote_write:\n  - {url: "http://127.0.0.1:1/api/v1/write"}\n`);
      gateways.push({ depot, gw: await startTestGateway(yaml) });
    }
    try {
      const runs = [];
      for (const [i, { depot, gw }] of gateways.entries()) {
        const ledger = join(dir, `${depot}.jsonl`);
        ledgers.set(depot, ledger);
        const writer = new LedgerWriter(ledger, { mode: "telemetry", seed: 20 + i, qos: 1, started_at: Date.now() });
        const port = gw.gw.mqttAddress().split(":").at(-1);
        const fleet = await startFleet({ url: `mqtt://127.0.0.1:${port}`, vehicles: 5, intervalMs: 200, durationMs: 6000, seed: 20 + i, fleets: 2, topicPrefix: depot, ledger: writer });
        runs.push(fleet.done.finally(() => writer.close()));
      }
      // The uplink to VictoriaMetrics goes down 1 s in, for 3 s; Prometheus stays up.
      await new Promise((r) => setTimeout(r, 1000));
      await proxy.setMode({ kind: "refuse" });
      await new Promise((r) => setTimeout(r, 3000));
      refused = gateways.reduce((n, g) => n + g.gw.gw.status().targets.filter((t) => t.name === "victoria" && t.pending_rows > 0).length, 0);
      await proxy.setMode({ kind: "forward" });
      await Promise.all(runs);
    } finally {
      // close() flushes the open windows and gives the senders time to deliver the backlog.
      for (const g of gateways) await g.gw.cleanup();
    }
  });

  after(async () => {
    await proxy?.close();
    await prom?.close();
    await vm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the outage was real: both gateways queued data for VictoriaMetrics while it was down", () => {
    assert.equal(refused, 2);
  });

  for (const backend of ["prometheus", "victoria-metrics"] as const) {
    for (const depot of depots) {
      it(`device-sim verify: ${depot} is complete in ${backend}`, async () => {
        const url = backend === "prometheus" ? prom.url : vm.url;
        const r = await verify({ ledger: ledgers.get(depot)!, prometheusUrl: url, config: parseConfig(configs.get(depot)!, depot), waitMs: 20_000 });
        assert.ok(r.ok, formatReport(r));
        assert.ok(r.results.length >= 5 * 10 + 2 * 2 * 3, `${r.results.length} series verified`);
        assert.ok(r.results.every((s) => s.series.includes(`depot="${depot}"`)), "each depot's series carry its external label");
      });
    }
  }
});
