import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { mosquittoPub } from "../helpers/mosquitto.js";
import { sleep, waitFor } from "../helpers/wait.js";

/**
 * End to end, as a user runs it: the edgegate CLI with a YAML config, devices
 * publishing with the real mosquitto_pub, a real Prometheus receiving
 * Remote-Write; the test asserts exact aggregated values and timestamps through
 * Prometheus's HTTP API.
 */
const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";
const INTERVAL = 10_000;
let prom: PrometheusHandle;
let gw: GatewayProcess;
let dir: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgegate-e2e-"));
  prom = await startPrometheus();
  gw = await startGatewayProcess(
    `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "./outbox.db", flush_interval: 200ms}
external_labels: {site: depot1}
topics:
  - topic: "vehicles/{vin}/telemetry"
    format: json
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
aggregation:
  - match: '{__name__="vehicle_speed_kmh"}'
    interval: 10s
    by: [fleet]
    outputs: [avg, min, max, sum_samples, count_samples, last, count_series]
    allowed_lateness: 1s
forward_unmatched: true
remote_write:
  - url: "${prom.writeUrl}"
`,
    dir,
  );
});

after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("aggregated windows and forwarded raw samples arrive in Prometheus with exact values and timestamps", { skip, timeout: 90_000 }, async () => {
  // Pick a window that is open now and has ≥ 3 s left, so every sample is on time.
  let start = Math.floor(Date.now() / INTERVAL) * INTERVAL;
  if (start + INTERVAL - Date.now() < 3000) start += INTERVAL;
  const end = start + INTERVAL;
  const msg = (fleet: string, offset: number, speed: number, rpm?: number) => JSON.stringify({ ts: start + offset, fleet, speed_kmh: speed, rpm });

  // B's speed samples are published out of timestamp order: `last` must follow timestamps, not arrival.
  // (The late one carries no raw rpm: a raw sample older than one already sent is dropped as out_of_order.)
  await mosquittoPub(gw.mqttPort, "VINA", "vehicles/VINA/telemetry", [msg("north", 1000, 10, 1000), msg("north", 5000, 30, 3000)]);
  await mosquittoPub(gw.mqttPort, "VINB", "vehicles/VINB/telemetry", [msg("north", 8000, 40, 4000)]);
  await mosquittoPub(gw.mqttPort, "VINB", "vehicles/VINB/telemetry", [msg("north", 2000, 20)]);
  await mosquittoPub(gw.mqttPort, "VINC", "vehicles/VINC/telemetry", [msg("south", 3000, 50, 5000)]);

  // The window closes at end + allowed_lateness (wall clock); then it is committed and sent.
  await sleep(Math.max(0, end + 1000 - Date.now()));
  const name = (out: string) => `vehicle_speed_kmh:10s_by_fleet_${out}`;
  const expected: Record<string, Record<string, number>> = {
    north: { avg: 25, min: 10, max: 40, sum_samples: 100, count_samples: 4, last: 40, count_series: 2 },
    south: { avg: 50, min: 50, max: 50, sum_samples: 50, count_samples: 1, last: 50, count_series: 1 },
  };
  await waitFor("all aggregated series in Prometheus", async () => {
    const r = await prom.rawSamples(`{__name__=~"vehicle_speed_kmh:10s_by_fleet_.*"}`, "1m", end + 1);
    return r.length === 14 ? r : undefined;
  });
  for (const [fleet, outputs] of Object.entries(expected)) {
    for (const [out, value] of Object.entries(outputs)) {
      const series = await prom.rawSamples(`${name(out)}{fleet="${fleet}"}`, "1m", end + 1);
      assert.equal(series.length, 1, `${name(out)}{fleet="${fleet}"}`);
      // exactly one sample, at the window end, labels: name, fleet, external label
      assert.deepEqual(series[0]!.samples, [[end, value]], `${name(out)}{fleet="${fleet}"}`);
      assert.deepEqual(series[0]!.metric, { __name__: name(out), fleet, site: "depot1" });
    }
  }

  // vehicle_rpm matched no rule: forwarded unchanged, one series per vehicle, in timestamp order.
  const rpm = await prom.rawSamples("vehicle_rpm", "1m", end + 1);
  const byVin = Object.fromEntries(rpm.map((s) => [s.metric.vin, s.samples]));
  assert.deepEqual(byVin, {
    VINA: [
      [start + 1000, 1000],
      [start + 5000, 3000],
    ],
    VINB: [[start + 8000, 4000]],
    VINC: [[start + 3000, 5000]],
  });
  // the raw speed series was aggregated, not forwarded
  assert.deepEqual(await prom.rawSamples("vehicle_speed_kmh", "1m", end + 1), []);

  // the gateway's own accounting agrees
  const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
  assert.match(metrics, /^edgegate_mqtt_messages_received_total 5$/m);
  assert.match(metrics, /^edgegate_ingest_samples_total 9$/m);
});

test("samples older than allowed_lateness are counted as too_late, not merged into another window", { skip, timeout: 30_000 }, async () => {
  const old = Date.now() - 60_000;
  await mosquittoPub(gw.mqttPort, "VIND", "vehicles/VIND/telemetry", [JSON.stringify({ ts: old, fleet: "east", speed_kmh: 99 })]);
  await waitFor("too_late drop counted", async () => {
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    return /^edgegate_samples_dropped_total\{reason="too_late"\} 1$/m.test(metrics) ? true : undefined;
  });
  const status = (await (await fetch(`${gw.httpUrl}/api/v1/status`)).json()) as { ready: boolean; mqtt: { connected_clients: number } };
  assert.equal(status.ready, true);
});
