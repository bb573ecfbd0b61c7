import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { flinkDemoYaml, runDeviceSim } from "../helpers/device-sim-cli.js";

/**
 * The Flink demo's event stream batched as telematics units send it
 * (`device-sim --mode flink-batch`: each message a JSON array of 10 events of
 * one vehicle) through the SHIPPED deploy/examples/flink-demo.yaml (only
 * addresses, storage and paths rewritten) into a real Prometheus, from two
 * device-sim worker processes; then `device-sim verify` recomputes every
 * vehicles_in_motion and warnings window from the ledger through the
 * gateway's own stages and must find them all in Prometheus.
 */
const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";
let prom: PrometheusHandle;
let gw: GatewayProcess;
let dir: string;
let configFile: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgegate-flink-batch-"));
  prom = await startPrometheus();
  const yaml = flinkDemoYaml(prom.writeUrl);
  configFile = join(dir, "flink-demo.yaml");
  writeFileSync(configFile, yaml);
  gw = await startGatewayProcess(yaml, dir);
});

after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("flink-batch: arrays of 10 events per message, every window verified against Prometheus", { skip, timeout: 150_000 }, async () => {
  const ledger = join(dir, "run.jsonl");
  // 40 vehicles at 400 events/s: each vehicle fills a batch of 10 about once a second.
  const run = await runDeviceSim([
    "--url", `mqtt://127.0.0.1:${gw.mqttPort}`, "--vehicles", "40", "--mode", "flink-batch", "--batch-size", "10",
    "--rate", "400", "--duration", "6s", "--qos", "1", "--workers", "2", "--seed", "21", "--ledger", ledger, "--quiet",
  ], 90_000);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const m = /messages sent (\d+) .* readings (\d+)/.exec(run.stdout);
  assert.ok(m, run.stdout);
  const [messages, events] = [Number(m[1]), Number(m[2])];
  assert.equal(events, 2400, run.stdout); // 400/s × 6 s, all produced and delivered

  // The ledger holds what was sent: arrays of the vehicle's own events, 10 each except a last partial batch per vehicle.
  const records = readFileSync(ledger, "utf8").split("\n").filter((l) => l.includes('"type":"message"')).map((l) => JSON.parse(l) as { topic: string; payload: string });
  assert.equal(records.length, messages);
  const partial = new Map<string, number>();
  for (const r of records) {
    const batch = JSON.parse(r.payload) as { vehicleId: string; region: string; timestamp: number }[];
    assert.ok(Array.isArray(batch) && batch.length >= 1 && batch.length <= 10, r.payload);
    for (const e of batch) assert.equal(r.topic, `fleet/${e.region}/${e.vehicleId}/events`);
    for (let i = 1; i < batch.length; i++) assert.ok(batch[i]!.timestamp >= batch[i - 1]!.timestamp, "events in time order");
    if (batch.length < 10) partial.set(r.topic, (partial.get(r.topic) ?? 0) + 1);
  }
  assert.ok([...partial.values()].every((n) => n === 1), "only the end-of-run batch of a vehicle is partial");
  assert.ok(messages <= Math.ceil(events / 10) + 40, `${messages} messages for ${events} events`);

  // Every event decoded by the gateway, none too late (each batch spans ~1 s, well inside allowed_lateness 5s).
  const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`^edgegate_ingest_samples_total ${events}$`, "m"));
  assert.match(metrics, /^edgegate_samples_dropped_total\{reason="too_late"\} 0$/m);

  // The last windows close 5 s after they end: verify waits for them.
  const v = await runDeviceSim(["verify", "--ledger", ledger, "--prometheus", prom.url, "--config", configFile, "--wait", "30s"], 90_000);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /verify: OK/);
  const series = /series: (\d+) \((\d+) raw, (\d+) aggregated\)/.exec(v.stdout);
  assert.ok(series, v.stdout);
  assert.equal(Number(series[2]), 0, "the demo forwards only aggregates");
  assert.ok(Number(series[3]) >= 2, v.stdout);
});
