import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGateway, type Gateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { connectDevice } from "../helpers/gateway-inproc.js";
import { metricValue } from "../helpers/sender-rig.js";
import { waitFor } from "../helpers/wait.js";

/**
 * Issue 10, hostile payloads over a real MQTT connection: every bad sample is
 * refused and counted with a reason, every bad label character replaced, and
 * a well-behaved device in the same batches loses nothing.
 */

function yaml(dir: string, url: string, extra = ""): string {
  return `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "${join(dir, "outbox.db")}", flush_interval: 100ms}
topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
remote_write:
  - url: "${url}"
    name: fake
    queue_config: {min_backoff: 20ms, max_backoff: 100ms, max_samples_per_send: 500}
${extra}`;
}

async function start(dir: string, url: string, extra = "", now?: () => number): Promise<Gateway> {
  const gw = buildGateway(parseConfig(yaml(dir, url, extra), "test config"), { now, shutdownSendTimeoutMs: 2000 });
  await gw.start();
  return gw;
}

const dropped = (gw: Gateway, reason: string) => metricValue(gw.metrics.samplesDropped, { reason });

test("far-future, absurd, too-old and non-finite timestamps, bad JSON and bad label characters are refused or repaired and counted; the good device loses nothing", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-payloads-"));
  const recv = await startFakeReceiver();
  const gw = await start(dir, recv.url);
  t.after(async () => {
    await gw.close();
    await recv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const good = await connectDevice(gw, "GOOD");
  const bad = await connectDevice(gw, "BAD");
  const now = Date.now();
  const hostile: (string | object)[] = [
    { ts: now + 3_600_000, speed_kmh: 1 }, // an hour ahead
    { ts: 32503680000000, speed_kmh: 2 }, // year 3000
    { ts: 1e300, speed_kmh: 3 }, // used to be sent as timestamp 0
    { ts: "3000-01-01T00:00:00Z", speed_kmh: 4 },
    { ts: now - 30 * 86_400_000, speed_kmh: 5 }, // 30 days old
    { ts: -1, speed_kmh: 6 },
    "{\"ts\": NaN, \"speed_kmh\": 7}", // not JSON
    `{"ts": ${now}, "speed_kmh": 1e400}`, // Infinity
    "[" + "[".repeat(100_000) + "]".repeat(100_000) + "]", // deeply nested
    "[" + Array.from({ length: 20_000 }, () => "1").join(",") + "]", // huge array of non-objects
    "{\"ts\": " + now + ", \"fleet\": \"a\\ud800b\", \"speed_kmh\": 8}", // lone surrogate in a label
    { ts: now, fleet: "x\"\n\u0000\u202eevil", speed_kmh: 9 }, // control and bidi characters
  ];
  for (const p of hostile) await bad.publishAsync("vehicles/BAD/telemetry", typeof p === "string" ? p : JSON.stringify(p), { qos: 1 });
  // A topic level is the device's identity: characters that would forge a label are replaced too.
  const bad2 = await connectDevice(gw, "BAD2");
  await bad2.publishAsync("vehicles/evil\u202e\u0007/telemetry", JSON.stringify({ ts: now, speed_kmh: 10 }), { qos: 1 });
  for (let i = 0; i < 50; i++) await good.publishAsync("vehicles/GOOD/telemetry", JSON.stringify({ ts: now - 50 + i, fleet: "north", speed_kmh: i }), { qos: 1 });
  await Promise.all([good.endAsync(), bad.endAsync(), bad2.endAsync()]);

  await waitFor("the good device's 50 samples", () => {
    gw.flushNow();
    return recv.samples().filter((s) => s.labels.vin === "GOOD").length >= 50 ? true : undefined;
  }, 15_000, 100);
  await waitFor("the repaired samples", () => (recv.samples().filter((s) => s.labels.vin !== "GOOD").length >= 3 ? true : undefined), 5000, 100);
  assert.deepEqual(recv.samples().filter((s) => s.labels.vin === "GOOD").map((s) => s.value), Array.from({ length: 50 }, (_, i) => i));

  assert.equal(await dropped(gw, "too_far_in_future"), 4);
  assert.equal(await dropped(gw, "too_old"), 1);
  assert.equal(await dropped(gw, "invalid_timestamp"), 1); // ts: -1
  assert.equal(await dropped(gw, "invalid_value"), 1);
  assert.equal(await dropped(gw, "invalid_payload"), 20_001); // 20,000 numbers + the nested array's single item
  assert.equal(await metricValue(gw.metrics.messagesDropped, { reason: "invalid_json" }) + (await dropped(gw, "invalid_json")), 1);
  assert.equal(await metricValue(gw.metrics.labelValuesReplaced, { reason: "invalid_utf16" }), 1);
  assert.equal(await metricValue(gw.metrics.labelValuesReplaced, { reason: "control_character" }), 2);

  const repaired = recv.samples().filter((s) => s.labels.vin !== "GOOD");
  assert.deepEqual(repaired.map((s) => [s.labels.vin, s.labels.fleet ?? null, s.value]).sort((a, b) => Number(a[2]) - Number(b[2])), [
    ["BAD", "a\ufffdb", 8],
    ["BAD", "x\"\ufffd\ufffd\ufffdevil", 9],
    ["evil\ufffd\ufffd", null, 10],
  ]);
  // Nothing at timestamp 0 or in the future ever left the gateway.
  for (const s of recv.samples()) assert.ok(s.timestamp > now - 3_600_000 && s.timestamp <= Date.now() + 300_000, `timestamp ${s.timestamp}`);
  assert.equal(recv.requests.filter((r) => r.status !== 204).length, 0);
  const res = await fetch(`http://${gw.httpAddress()}/-/healthy`);
  assert.equal(res.status, 200);
});

test("a year-3000 sample, a restart: later samples of every device are still aggregated", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-year3000-"));
  const recv = await startFakeReceiver();
  t.after(async () => {
    await recv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const W = Math.floor(Date.now() / 10_000) * 10_000; // a window start
  let clock = W + 1000;
  const agg = `aggregation:
  - match: 'vehicle_speed_kmh'
    interval: 10s
    by: [fleet]
    outputs: [count_samples]
    allowed_lateness: 2s
forward_unmatched: false
`;
  let gw = await start(dir, recv.url, agg, () => clock);
  let dev = await connectDevice(gw, "V1");
  await dev.publishAsync("vehicles/V1/telemetry", JSON.stringify({ ts: 32503680000000, fleet: "north", speed_kmh: 1 }), { qos: 1 });
  await dev.publishAsync("vehicles/V1/telemetry", JSON.stringify({ ts: W + 500, fleet: "north", speed_kmh: 1 }), { qos: 1 });
  await dev.endAsync();
  assert.equal(await dropped(gw, "too_far_in_future"), 1);
  await gw.close(); // final flush + checkpoint

  clock = W + 10_000 + 1000;
  gw = await start(dir, recv.url, agg, () => clock);
  t.after(() => gw.close());
  dev = await connectDevice(gw, "V2");
  for (let i = 0; i < 5; i++) await dev.publishAsync("vehicles/V2/telemetry", JSON.stringify({ ts: W + 10_000 + i, fleet: "north", speed_kmh: i }), { qos: 1 });
  await dev.endAsync();
  clock = W + 20_000 + 2000;
  gw.flushNow();
  await waitFor("the second window's count", () => {
    gw.flushNow();
    return recv.samples().find((s) => s.timestamp === W + 20_000) ?? undefined;
  }, 10_000, 100);
  assert.equal(await dropped(gw, "too_late"), 0);
  const counts = recv.samples().filter((s) => s.labels.__name__ === "vehicle_speed_kmh:10s_by_fleet_count_samples").map((s) => [s.timestamp - W, s.value]);
  assert.deepEqual(counts, [
    [10_000, 1],
    [20_000, 5],
  ]);
});
