import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { prometheusAvailable, startPrometheus, type PrometheusHandle } from "../helpers/prometheus.js";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { FLINK_EVENTS, FLINK_REGION } from "../fixtures/flink-script.js";
import { flinkDemoYaml } from "../helpers/device-sim-cli.js";

/**
 * Acceptance (issue #3): the Flink connected-vehicles demo reproduced with
 * the SHIPPED deploy/examples/flink-demo.yaml (only addresses, storage and
 * paths rewritten for the test), real MQTT clients (MQTT.js, one per
 * vehicle, the demo's topic layout and JSON events), a real Prometheus.
 *
 * Vehicles (deploy/examples/vehicles.csv: model = Type-<A + index mod 7>):
 *   V0000000000 Type-A UK · V0000000007 Type-A UK · V0000000014 Type-A UK
 *   V0000000001 Type-B UK · V0000000008 Type-B DE
 *
 * Events, all in one 5 s window [W, W+5s), in publish order (t = ms after W):
 *   V0  IC_RPM 1200 t100 · V0 ELECTRIC_RPM 0 t200 · V7 IC_RPM 0 t300 · V7 ELECTRIC_RPM 0 t400
 *   V14 ELECTRIC_RPM -3500 t500 · V1 IC_RPM 0 t600 · V8 ELECTRIC_RPM 800 t700
 *   V0  WARNINGS 3 t1000 · V0 WARNINGS 4 t2000 · V7 WARNINGS 2 t1500
 *   V14 WARNINGS 1 t3000, then V14 WARNINGS 5 t900 (published later, earlier event time)
 *   V8  WARNINGS 0 t800
 *
 * Hand computation, per (model, region):
 *   vehicles_in_motion (distinct vehicles with a non-zero RPM event):
 *     Type-A/UK: V0 (1200), V14 (-3500) moving; V7 only zeros          → 2
 *     Type-B/UK: V1 only zeros → the group has events, so it emits     → 0
 *     Type-B/DE: V8 (800)                                              → 1
 *   warnings (each vehicle's FIRST WARNINGS by event time, summed):
 *     Type-A/UK: V0 first t1000 = 3; V7 t1500 = 2; V14 first t900 = 5  → 10
 *     Type-B/DE: V8 t800 = 0                                           → 0
 *     Type-B/UK: no WARNINGS event                                     → no sample
 * Every sample at W+5000 (the window end), labels exactly {model, region}.
 */
const skip = prometheusAvailable() ? false : "prometheus is not installed (CI installs Debian's package)";
const WINDOW = 5_000;
let prom: PrometheusHandle;
let gw: GatewayProcess;
let dir: string;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "edgegate-flink-"));
  prom = await startPrometheus();
  const yaml = flinkDemoYaml(prom.writeUrl);
  gw = await startGatewayProcess(yaml, dir);
});

after(async () => {
  await gw?.stop();
  await prom?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const REGION = FLINK_REGION;

test("flink demo: vehicles_in_motion and warnings per (model, region) match the hand computation", { skip, timeout: 60_000 }, async () => {
  const clients = new Map<string, mqtt.MqttClient>();
  for (const id of Object.keys(REGION)) {
    clients.set(id, await mqtt.connectAsync(`mqtt://127.0.0.1:${gw.mqttPort}`, { clientId: id, protocolVersion: 4, reconnectPeriod: 0 }));
  }
  try {
    // A window that is open now with ≥ 2.5 s left for publishing (events are on time, not late).
    let start = Math.floor(Date.now() / WINDOW) * WINDOW;
    if (start + WINDOW - Date.now() < 2_500) start += WINDOW;
    const end = start + WINDOW;
    const events = FLINK_EVENTS;
    for (const [id, eventType, measurement, t] of events) {
      const region = REGION[id]!;
      const payload = JSON.stringify({ eventType, vehicleId: id, region, timestamp: start + t, measurement });
      await clients.get(id)!.publishAsync(`fleet/${region}/${id}/events`, payload, { qos: 1 });
    }
    // A WARNINGS event 60 s old: its window was flushed long ago → too_late, never merged into this window.
    await clients.get("V0000000000")!.publishAsync(
      "fleet/UK/V0000000000/events",
      JSON.stringify({ eventType: "WARNINGS", vehicleId: "V0000000000", region: "UK", timestamp: start - 60_000, measurement: 99 }),
      { qos: 1 },
    );

    // The window closes at end + allowed_lateness (5 s, wall clock), then it is committed and sent.
    await sleep(Math.max(0, end + 5_000 - Date.now()));
    const expected = [
      { metric: { __name__: "vehicles_in_motion", model: "Type-A", region: "UK" }, samples: [[end, 2]] },
      { metric: { __name__: "vehicles_in_motion", model: "Type-B", region: "DE" }, samples: [[end, 1]] },
      { metric: { __name__: "vehicles_in_motion", model: "Type-B", region: "UK" }, samples: [[end, 0]] },
      { metric: { __name__: "warnings", model: "Type-A", region: "UK" }, samples: [[end, 10]] },
      { metric: { __name__: "warnings", model: "Type-B", region: "DE" }, samples: [[end, 0]] },
    ];
    const got = await waitFor("both outputs in Prometheus", async () => {
      const r = await prom.rawSamples('{__name__=~"vehicles_in_motion|warnings"}', "5m", end + 1);
      return r.length === expected.length ? r : undefined;
    });
    const key = (x: { metric: Record<string, string> }) => JSON.stringify(x.metric);
    assert.deepEqual(
      got.map((x) => ({ metric: x.metric, samples: x.samples })).sort((a, b) => key(a).localeCompare(key(b))),
      expected.sort((a, b) => key(a).localeCompare(key(b))),
    );
    // Nothing else left the box: no raw events, no other series.
    const all = await prom.query('count({__name__=~".+"})', end + 1);
    assert.equal(all[0]?.value, expected.length);

    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    assert.match(metrics, /^edgegate_ingest_samples_total 14$/m);
    assert.match(metrics, /^edgegate_samples_dropped_total\{reason="too_late"\} 1$/m);
    assert.doesNotMatch(metrics, /^edgegate_enrich_misses_total\{[^}]*\} [1-9]/m); // every vehicle is in vehicles.csv
  } finally {
    for (const c of clients.values()) await c.endAsync();
  }
});
