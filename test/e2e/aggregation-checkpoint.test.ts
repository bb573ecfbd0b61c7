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
 * Checkpoints of open windows (issue #4): `kill -9` the gateway while a
 * window is open, restart it on the same SQLite file, and the window's
 * outputs arrive ONCE, with the samples from before the crash and after the
 * restart. Then kill -9 again after the window was flushed: the restarted
 * gateway must not emit it a second time.
 *
 * Window [W, W+10s), by fleet, outputs count_samples, sum_samples, max:
 *   before the crash: VINA north 10 @W+1s, VINB north 20 @W+2s, VINC south 50 @W+3s
 *   after the restart: VINA north 30 @W+8s
 *   north: count 3, sum 60, max 30 · south: count 1, sum 50, max 50  (all @W+10s)
 * Without the checkpoint, north would be count 1, sum 30 (the crash lost the rest).
 */
const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";
const INTERVAL = 10_000;
let prom: PrometheusHandle;
let dir: string;
let gw: GatewayProcess | undefined;

const config = (writeUrl: string) => `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "./outbox.db", flush_interval: 200ms, checkpoint_interval: 300ms}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
aggregation:
  - match: vehicle_speed_kmh
    interval: 10s
    by: [fleet]
    outputs: [count_samples, sum_samples, max]
    allowed_lateness: 5s
forward_unmatched: false
remote_write:
  - url: "${writeUrl}"
`;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-e2e-"));
  prom = await startPrometheus();
});

after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function metricsText(g: GatewayProcess): Promise<string> {
  return (await fetch(`${g.httpUrl}/metrics`)).text();
}

function counter(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) sum += Number(m[1]);
  return sum;
}

async function kill9(g: GatewayProcess): Promise<void> {
  const exited = new Promise((r) => g.child.once("exit", r));
  g.child.kill("SIGKILL");
  await exited;
}

test("kill -9 with an open window: after a restart its outputs arrive once, with every sample", { skip, timeout: 90_000 }, async () => {
  // A window with ≥ 9 s left now: the crash, restart (~3 s) and second publish all happen inside it.
  let start = Math.floor(Date.now() / INTERVAL) * INTERVAL;
  if (start + INTERVAL - Date.now() < 9_000) start += INTERVAL;
  await sleep(Math.max(0, start - Date.now()));
  const end = start + INTERVAL;
  const msg = (fleet: string, offset: number, speed: number) => JSON.stringify({ ts: start + offset, fleet, speed_kmh: speed });

  gw = await startGatewayProcess(config(prom.writeUrl), dir);
  await mosquittoPub(gw.mqttPort, "VINA", "vehicles/VINA/telemetry", [msg("north", 1000, 10)]);
  await mosquittoPub(gw.mqttPort, "VINB", "vehicles/VINB/telemetry", [msg("north", 2000, 20)]);
  await mosquittoPub(gw.mqttPort, "VINC", "vehicles/VINC/telemetry", [msg("south", 3000, 50)]);
  // Wait for a checkpoint that holds the three samples (one is written every checkpoint_interval
  // when messages arrived since the last; what came after it is replayed from the ingest journal).
  const first = gw;
  await waitFor("a checkpoint covering the journal", async () => {
    const t = await metricsText(first);
    return counter(t, "edgegate_aggregation_checkpoints_total") > 0 && counter(t, "edgegate_ingest_journal_rows") === 0 ? true : undefined;
  });
  await kill9(gw);
  assert.ok(Date.now() < end, "the crash happened while the window was open");

  gw = await startGatewayProcess(config(prom.writeUrl), dir);
  assert.match(gw.output(), /"windows":1,[^\n]*"msg":"aggregation state restored from checkpoint"/);
  await mosquittoPub(gw.mqttPort, "VINA", "vehicles/VINA/telemetry", [msg("north", 8000, 30)]);

  await sleep(Math.max(0, end + 5_000 - Date.now()));
  const expected: Record<string, Record<string, number>> = {
    north: { count_samples: 3, sum_samples: 60, max: 30 },
    south: { count_samples: 1, sum_samples: 50, max: 50 },
  };
  await waitFor("all six outputs in Prometheus", async () => {
    const r = await prom.rawSamples('{__name__=~"vehicle_speed_kmh:10s_by_fleet_.*"}', "2m", end + 1);
    return r.length === 6 ? r : undefined;
  });
  for (const [fleet, outputs] of Object.entries(expected)) {
    for (const [out, value] of Object.entries(outputs)) {
      const series = await prom.rawSamples(`vehicle_speed_kmh:10s_by_fleet_${out}{fleet="${fleet}"}`, "2m", end + 1);
      assert.deepEqual(series.map((x) => x.samples), [[[end, value]]], `${out}{fleet="${fleet}"}`);
    }
  }
  const second = gw;
  assert.equal(counter(await metricsText(second), "edgegate_outbox_samples_written_total"), 6);

  // The window is flushed and committed; the checkpoint written right after says so.
  // Crash again: the restarted gateway must not emit that window again.
  await waitFor("the checkpoint after the flush", async () => {
    const t = await metricsText(second);
    return counter(t, "edgegate_aggregation_windows_open") === 0 && counter(t, "edgegate_aggregation_checkpoints_total") > 0 ? true : undefined;
  });
  await sleep(400); // one more checkpoint interval
  await kill9(gw);
  gw = await startGatewayProcess(config(prom.writeUrl), dir);
  assert.match(gw.output(), /"windows":0,[^\n]*"msg":"aggregation state restored from checkpoint"/);
  await sleep(1_500);
  const text = await metricsText(gw);
  assert.equal(counter(text, "edgegate_outbox_samples_written_total"), 0, "nothing re-emitted after the restart");
  assert.equal(counter(text, "edgegate_aggregation_windows_open"), 0);
});
