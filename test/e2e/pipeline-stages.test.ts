import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { mosquittoPub } from "../helpers/mosquitto.js";
import { sleep, waitFor } from "../helpers/wait.js";

/**
 * The pre-processing stages end to end (issue #3a): the edgegate CLI with a
 * rich config — enrich from a CSV registry (reloaded while running), per-topic
 * and global relabelling, derive, an aggregation rule, write_relabel_configs —
 * real mosquitto_pub devices, a real Prometheus; exact values asserted through
 * Prometheus's HTTP API and the drop/miss counters through /metrics.
 */
const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";
const INTERVAL = 10_000;
let prom: PrometheusHandle;
let gw: GatewayProcess;
let dir: string;

const CSV = "vin,model,fleet\nVINA,e-van,north\nVINB,truck,north\nVINT,e-van,test-lab\n";

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgegate-e2e-pipeline-"));
  writeFileSync(join(dir, "vehicles.csv"), CSV);
  prom = await startPrometheus();
  gw = await startGatewayProcess(
    `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "./outbox.db", flush_interval: 200ms}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    relabel_configs:
      - {source_labels: [__name__], regex: "vehicle_debug_.*", action: drop}
    limits: {max_series: 1000, max_label_value_length: 64}
enrich:
  - name: vehicles
    key_label: vin
    file: ./vehicles.csv
    defaults: {model: unknown}
    reload_interval: 200ms
relabel_configs:
  - {source_labels: [fleet], regex: "test.*", action: drop}
  - {source_labels: [model], target_label: model, action: uppercase}
derive:
  - {name: vehicle_fuel_l_per_100km, signal_prefix: vehicle_, expr: "fuel_rate_lph / speed_kmh * 100"}
  - {name: vehicle_in_motion, signal_prefix: vehicle_, expr: "rpm != 0"}
limits: {max_series: 1000}
aggregation:
  - match: '{__name__="vehicle_fuel_l_per_100km"}'
    interval: 10s
    by: [model]
    outputs: [avg, count_samples]
    allowed_lateness: 1s
forward_unmatched: true
remote_write:
  - url: "${prom.writeUrl}"
    write_relabel_configs:
      - {source_labels: [__name__], regex: ".*:.*|vehicle_in_motion", action: keep}
      - {regex: fleet, action: labeldrop}
`,
    dir,
  );
});

after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function selfMetrics(): Promise<string> {
  return (await fetch(`${gw.httpUrl}/metrics`)).text();
}

test("enrich → relabel → derive → aggregate → write relabel, exact values in Prometheus", { skip, timeout: 90_000 }, async () => {
  let start = Math.floor(Date.now() / INTERVAL) * INTERVAL;
  if (start + INTERVAL - Date.now() < 3000) start += INTERVAL;
  const end = start + INTERVAL;
  const msg = (offset: number, fields: Record<string, number>) => JSON.stringify({ ts: start + offset, ...fields });

  await mosquittoPub(gw.mqttPort, "VINA", "vehicles/VINA/telemetry", [
    msg(1000, { speed_kmh: 80, fuel_rate_lph: 8, rpm: 1000, debug_x: 1 }), // 10 l/100km; debug_x dropped per topic
    msg(2000, { speed_kmh: 0, fuel_rate_lph: 1, rpm: 0 }), // division by zero: skipped, counted
  ]);
  await mosquittoPub(gw.mqttPort, "VINB", "vehicles/VINB/telemetry", [msg(3000, { speed_kmh: 50, fuel_rate_lph: 10, rpm: 500 })]); // 20
  await mosquittoPub(gw.mqttPort, "VINC", "vehicles/VINC/telemetry", [msg(4000, { speed_kmh: 100, fuel_rate_lph: 5, rpm: 0 })]); // miss → UNKNOWN, 5
  await mosquittoPub(gw.mqttPort, "VINT", "vehicles/VINT/telemetry", [msg(5000, { speed_kmh: 10, fuel_rate_lph: 1, rpm: 1 })]); // fleet test-lab: dropped

  await sleep(Math.max(0, end + 1000 - Date.now()));
  const agg = await waitFor("aggregated series in Prometheus", async () => {
    const r = await prom.rawSamples(`{__name__=~"vehicle_fuel_l_per_100km:10s_by_model_.*"}`, "1m", end + 1);
    return r.length === 6 ? r : undefined;
  });
  const got = Object.fromEntries(agg.map((s) => [`${s.metric["__name__"]}{${s.metric["model"]}}`, s.samples]));
  assert.deepEqual(got, {
    "vehicle_fuel_l_per_100km:10s_by_model_avg{E-VAN}": [[end, 10]],
    "vehicle_fuel_l_per_100km:10s_by_model_count_samples{E-VAN}": [[end, 1]],
    "vehicle_fuel_l_per_100km:10s_by_model_avg{TRUCK}": [[end, 20]],
    "vehicle_fuel_l_per_100km:10s_by_model_count_samples{TRUCK}": [[end, 1]],
    "vehicle_fuel_l_per_100km:10s_by_model_avg{UNKNOWN}": [[end, 5]],
    "vehicle_fuel_l_per_100km:10s_by_model_count_samples{UNKNOWN}": [[end, 1]],
  });

  // Derived raw series pass write relabelling (fleet dropped); decoded raw signals do not.
  const motion = await prom.rawSamples("vehicle_in_motion", "1m", end + 1);
  const byVin = Object.fromEntries(motion.map((s) => [s.metric["vin"], { metric: s.metric, samples: s.samples }]));
  assert.deepEqual(byVin, {
    VINA: { metric: { __name__: "vehicle_in_motion", vin: "VINA", model: "E-VAN" }, samples: [[start + 1000, 1], [start + 2000, 0]] },
    VINB: { metric: { __name__: "vehicle_in_motion", vin: "VINB", model: "TRUCK" }, samples: [[start + 3000, 1]] },
    VINC: { metric: { __name__: "vehicle_in_motion", vin: "VINC", model: "UNKNOWN" }, samples: [[start + 4000, 0]] },
  });
  assert.deepEqual(await prom.rawSamples(`{__name__=~"vehicle_(speed_kmh|rpm|fuel_rate_lph|debug_x)"}`, "1m", end + 1), []);

  const m = await selfMetrics();
  assert.match(m, /^edgegate_samples_dropped_total\{reason="relabel_drop"\} 4$/m); // debug_x + VINT's 3 signals
  assert.match(m, /^edgegate_samples_dropped_total\{reason="derive_division_by_zero"\} 1$/m);
  assert.match(m, /^edgegate_samples_dropped_total\{reason="write_relabel_drop"\} \d+$/m);
  assert.match(m, /^edgegate_enrich_misses_total\{registry="vehicles"\} 3$/m); // VINC's 3 signals
  assert.match(m, /^edgegate_enrich_registry_entries\{registry="vehicles"\} 3$/m);
  assert.match(m, /^edgegate_limits_series_active\{scope="topics\[0\]"\} \d+$/m);
});

test("the CSV registry is reloaded while running; a broken file keeps the previous data", { skip, timeout: 30_000 }, async () => {
  writeFileSync(join(dir, "vehicles.csv"), 'vin,model\nVINC,"broken\n');
  await waitFor("failed reload counted", async () => (/^edgegate_enrich_reloads_total\{registry="vehicles",result="failure"\} [1-9]/m.test(await selfMetrics()) ? true : undefined));
  writeFileSync(join(dir, "vehicles.csv"), CSV + "VINC,bus,south\n");
  await waitFor("registry reloaded", async () => (/^edgegate_enrich_registry_entries\{registry="vehicles"\} 4$/m.test(await selfMetrics()) ? true : undefined));
  const ts = Date.now();
  await mosquittoPub(gw.mqttPort, "VINC", "vehicles/VINC/telemetry", [JSON.stringify({ ts, speed_kmh: 10, rpm: 900 })]);
  const s = await waitFor("enriched sample", async () => {
    const r = await prom.rawSamples(`vehicle_in_motion{vin="VINC", model="BUS"}`, "1m", ts + 1);
    return r.length === 1 ? r[0] : undefined;
  });
  assert.deepEqual(s.samples, [[ts, 1]]);
});
