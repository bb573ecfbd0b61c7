import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startFleet, type FleetStats } from "../../device-sim/fleet.js";
import { LedgerWriter } from "../../device-sim/ledger.js";
import { parseConfig } from "../../gateway/config/load.js";
import { formatReport, verify } from "../../device-sim/verify.js";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startTestGateway } from "../helpers/gateway-inproc.js";
import { runDeviceSim } from "../helpers/device-sim-cli.js";

/**
 * The end-to-end proof: a simulated fleet → the real gateway → a real
 * Prometheus, then `device-sim verify` recomputes every series from the ledger
 * through the gateway's own stages and compares. It must pass, and it must
 * fail (naming the series) when the ledger claims one sample more than was
 * sent, or when the gateway ran a config that drops a series.
 */
const skip = prometheusAvailable() ? false : "needs Debian's prometheus binary";

// Small windows and lateness so the run (and its last window) is over in seconds.
const PIPELINE = `
topics:
  - topic: "vehicles/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
  - topic: "pb/{vin}/telemetry"
    format: protobuf
    metric_prefix: "pbv_"
    timestamp_field: "ts"
    label_fields: [fleet, model]
aggregation:
  - match: '{__name__=~"vehicle_(speed_kmh|rpm)"}'
    interval: 2s
    by: [fleet]
    outputs: [avg, min, max, sum_samples, count_samples, last, count_series]
    allowed_lateness: 1s
forward_unmatched: true
external_labels: {site: e2e}
`;

describe("device-sim verify against the real gateway and a real Prometheus", { skip, timeout: 120_000 }, () => {
  let prom: PrometheusHandle;
  let dir: string;
  let ledger: string;
  let configFile: string;
  let jsonStats: FleetStats;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "device-sim-e2e-"));
    prom = await startPrometheus();
    const gw = await startTestGateway(`${PIPELINE}remote_write:\n  - url: "${prom.writeUrl}"\n`);
    configFile = join(dir, "edgegate.yaml");
    writeFileSync(configFile, `${PIPELINE}remote_write:\n  - url: "http://127.0.0.1:1/api/v1/write"\n`);
    const port = gw.gw.mqttAddress().split(":").at(-1);
    ledger = join(dir, "run.jsonl");
    const writer = new LedgerWriter(ledger, { mode: "mixed", seed: 11, qos: 1, started_at: Date.now() });
    try {
      const json = await startFleet({ url: `mqtt://127.0.0.1:${port}`, vehicles: 4, intervalMs: 200, durationMs: 3000, seed: 11, fleets: 2, ledger: writer });
      const pb = await startFleet({ url: `mqtt://127.0.0.1:${port}`, vehicles: 2, intervalMs: 250, durationMs: 2000, seed: 12, mode: "protobuf", topicPrefix: "pb", ledger: writer });
      // One vehicle loses coverage for 1.2 s mid-run and replays its backlog with the original timestamps.
      setTimeout(() => json.disconnect(0, 1200), 600);
      [jsonStats] = await Promise.all([json.done, pb.done]);
    } finally {
      writer.close();
      // close() flushes every open window into the outbox and gives the sender time to deliver.
      await gw.cleanup();
    }
  });

  after(async () => {
    await prom?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes: every raw and aggregated series matches what was sent", async () => {
    const config = parseConfig(readFileSync(configFile, "utf8"), configFile);
    const r = await verify({ ledger, prometheusUrl: prom.url, config, waitMs: 15_000 });
    assert.ok(r.ok, formatReport(r));
    const raw = r.results.filter((s) => s.kind === "raw");
    const agg = r.results.filter((s) => s.kind === "aggregated");
    // 12 numeric signals per vehicle, raw (the JSON vehicles' speed and rpm are aggregated instead), + 2 fleets × 2 metrics × 7 outputs.
    assert.equal(raw.length, 4 * 10 + 2 * 12);
    assert.equal(agg.length, 2 * 2 * 7);
    assert.ok(raw.every((s) => s.series.includes('site="e2e"')));
    assert.ok(r.results.some((s) => s.series.startsWith("pbv_speed_kmh{")), "protobuf series verified");
    // The outage really happened: a reconnect, and a backlog replayed as one array payload.
    assert.ok(jsonStats.reconnects >= 1, JSON.stringify(jsonStats));
    assert.match(readFileSync(ledger, "utf8"), /"payload":"\[\{/);
  });

  it("the CLI fails naming the series when the ledger claims one more sample", async () => {
    const lines = readFileSync(ledger, "utf8").split("\n");
    const i = lines.findIndex((l) => l.includes('"type":"message"') && l.includes("vehicles/"));
    const msg = JSON.parse(lines[i]!) as { topic: string; payload: string; at: number };
    const p = JSON.parse(msg.payload) as { ts: number };
    const forged = { ...msg, payload: JSON.stringify({ ...p, ts: p.ts + 1 }), at: msg.at + 1 };
    const edited = join(dir, "edited.jsonl");
    writeFileSync(edited, [...lines.slice(0, i + 1), JSON.stringify(forged), ...lines.slice(i + 1)].join("\n"));
    const vin = msg.topic.split("/")[1]!;
    const r = await runDeviceSim(["verify", "--ledger", edited, "--prometheus", prom.url, "--config", configFile, "--wait", "0"], 60_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`FAIL raw +vehicle_odometer_km\\{[^}]*vin="${vin}"[^}]*\\}  sent \\d+, stored \\d+: 1 missing`));
    assert.match(r.stdout, /verify: FAILED/);

    const ok = await runDeviceSim(["verify", "--ledger", ledger, "--prometheus", prom.url, "--config", configFile, "--wait", "0"], 60_000);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /verify: OK/);
  });

  it("fails naming the series when the gateway's config dropped them", async () => {
    // As if the gateway had run with aggregation that also swallowed coolant temperatures.
    const text = readFileSync(configFile, "utf8").replace('match: \'{__name__=~"vehicle_(speed_kmh|rpm)"}\'', 'match: \'{__name__=~"vehicle_(speed_kmh|rpm|coolant_temp_c)"}\'');
    const config = parseConfig(text, "altered");
    const r = await verify({ ledger, prometheusUrl: prom.url, config, waitMs: 0 });
    assert.equal(r.ok, false);
    const failed = r.results.filter((s) => !s.ok);
    assert.ok(failed.length > 0 && failed.every((s) => s.series.startsWith("vehicle_coolant_temp_c:2s_by_fleet_")), formatReport(r));
  });
});
