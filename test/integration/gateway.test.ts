import { test } from "node:test";
import assert from "node:assert/strict";
import { startFakeReceiver } from "../helpers/fake-receiver.js";
import { connectDevice, startTestGateway } from "../helpers/gateway-inproc.js";
import { waitFor } from "../helpers/wait.js";

/**
 * The real gateway (broker, pipeline, SQLite outbox, sender, HTTP) on ephemeral
 * ports, a real MQTT.js device, and a fake Remote-Write receiver that can be told
 * to fail. The window clock is injected so no test waits for a window to end.
 */
const W = 1_700_000_000_000; // a window start (multiple of 10 s)

function rules(url: string, extra = ""): string {
  return `topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
aggregation:
  - match: 'vehicle_speed_kmh'
    interval: 10s
    by: [fleet]
    outputs: [avg, count_samples, last]
    allowed_lateness: 2s
remote_write:
  - url: "${url}"
    name: fake
    queue_config: {min_backoff: 20ms, max_backoff: 100ms, max_samples_per_send: 100}
${extra}`;
}

test("500 then 204: the batch is retried and every sample arrives exactly once", async (t) => {
  const recv = await startFakeReceiver({ respond: (i) => (i === 0 ? 500 : 204) });
  let clock = W + 3000;
  const { gw, cleanup } = await startTestGateway(rules(recv.url), { now: () => clock });
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const dev = await connectDevice(gw, "VIN1");
  t.after(() => dev.endAsync());
  // One message, readings out of order: two messages could straddle a periodic outbox
  // flush under load, and the order guard would then (rightly) drop the older raw sample.
  await dev.publishAsync("vehicles/VIN1/telemetry", JSON.stringify([
    { ts: W + 1000, fleet: "north", speed_kmh: 10, rpm: 900 },
    { ts: W + 4000, fleet: "north", speed_kmh: 30, rpm: 2000 },
    { ts: W + 2000, fleet: "north", speed_kmh: 20, rpm: 1500 },
  ]), { qos: 1 });

  clock = W + 10_000 + 2000; // window end + allowed_lateness: due
  gw.flushNow();
  await waitFor("outbox drained", async () => ((await gw.drained(), true)), 10_000);

  assert.equal(recv.requests[0]?.status, 500);
  const got = recv.samples().map((s) => `${s.labels.__name__}{${s.labels.vin ?? s.labels.fleet}} ${s.value} @${s.timestamp - W}`).sort();
  assert.deepEqual(got, [
    "vehicle_rpm{VIN1} 1500 @2000",
    "vehicle_rpm{VIN1} 2000 @4000",
    "vehicle_rpm{VIN1} 900 @1000",
    "vehicle_speed_kmh:10s_by_fleet_avg{north} 20 @10000",
    "vehicle_speed_kmh:10s_by_fleet_count_samples{north} 3 @10000",
    "vehicle_speed_kmh:10s_by_fleet_last{north} 30 @10000",
  ]);
  const m = await gw.metrics.registry.metrics();
  assert.match(m, /edgegate_remote_write_requests_total\{target="fake",code="500"\} 1/);
  assert.match(m, /edgegate_remote_write_retries_total\{target="fake",reason="[a-z_0-9]+"\} 1/);
  assert.match(m, /edgegate_remote_write_samples_sent_total\{target="fake"\} 6/);
});

test("400: not retried, set aside as a dead letter, and the next batch still goes out", async (t) => {
  const recv = await startFakeReceiver({ respond: (i) => (i === 0 ? { status: 400, body: "out of order sample" } : 204) });
  const { gw, cleanup } = await startTestGateway(rules(recv.url), { now: () => W + 3000 });
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const dev = await connectDevice(gw, "VIN2");
  t.after(() => dev.endAsync());
  await dev.publishAsync("vehicles/VIN2/telemetry", JSON.stringify({ ts: W + 1000, rpm: 1 }), { qos: 1 });
  gw.flushNow();
  await waitFor("first batch answered", () => (recv.requests.length >= 1 ? true : undefined));
  await dev.publishAsync("vehicles/VIN2/telemetry", JSON.stringify({ ts: W + 2000, rpm: 2 }), { qos: 1 });
  gw.flushNow();
  await waitFor("second batch delivered", () => (recv.samples().length === 1 ? true : undefined));
  await gw.drained();

  assert.equal(recv.requests.length, 2, "the 400 batch must not be retried");
  assert.deepEqual(recv.samples().map((s) => s.value), [2]);
  const st = gw.status();
  assert.equal(st.outbox.dead_letter_rows, 1);
  assert.equal(st.outbox.rows, 0);
  assert.equal(st.targets[0]?.last_error?.status, 400);
  assert.match(st.targets[0]?.last_error?.message ?? "", /out of order sample/);
  const m = await gw.metrics.registry.metrics();
  assert.match(m, /edgegate_remote_write_dead_lettered_samples_total\{target="fake",reason="[a-z_0-9]+"\} 1/);
});

test("close() flushes open windows into the outbox and delivers them", async (t) => {
  const recv = await startFakeReceiver();
  const { gw, cleanup } = await startTestGateway(rules(recv.url), { now: () => W + 3000 });
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const dev = await connectDevice(gw, "VIN3");
  await dev.publishAsync("vehicles/VIN3/telemetry", JSON.stringify({ ts: W + 1000, fleet: "south", speed_kmh: 42 }), { qos: 1 });
  await dev.endAsync();
  assert.equal(recv.samples().length, 0, "the window is still open");
  await gw.close();
  const names = recv.samples().map((s) => `${s.labels.__name__} ${s.value} @${s.timestamp - W}`).sort();
  assert.deepEqual(names, [
    "vehicle_speed_kmh:10s_by_fleet_avg 42 @10000",
    "vehicle_speed_kmh:10s_by_fleet_count_samples 1 @10000",
    "vehicle_speed_kmh:10s_by_fleet_last 42 @10000",
  ]);
});

test("unroutable and malformed messages are counted by reason; the broker keeps serving", async (t) => {
  const recv = await startFakeReceiver();
  const { gw, cleanup } = await startTestGateway(rules(recv.url));
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const dev = await connectDevice(gw, "VIN4");
  t.after(() => dev.endAsync());
  await dev.publishAsync("elsewhere/x", "{}", { qos: 1 });
  await dev.publishAsync("vehicles/VIN4/telemetry", "{not json", { qos: 1 });
  await dev.publishAsync("vehicles/VIN4/telemetry", JSON.stringify({ ts: "never", rpm: 1 }), { qos: 1 });
  await dev.publishAsync("vehicles/VIN4/telemetry", JSON.stringify({ rpm: 5 }), { qos: 1 });
  const m = await gw.metrics.registry.metrics();
  assert.match(m, /edgegate_ingest_messages_dropped_total\{reason="no_topic_rule"\} 1/);
  assert.match(m, /edgegate_samples_dropped_total\{reason="invalid_json"\} 1/);
  assert.match(m, /edgegate_samples_dropped_total\{reason="invalid_timestamp"\} 1/);
  assert.match(m, /edgegate_mqtt_messages_received_total 4/);
  assert.match(m, /edgegate_ingest_samples_total 1/);
});

test("HTTP: health, readiness, self-metrics and status", async (t) => {
  const recv = await startFakeReceiver();
  const { gw, cleanup } = await startTestGateway(rules(recv.url));
  t.after(async () => {
    await cleanup();
    await recv.close();
  });
  const base = `http://${gw.httpAddress()}`;
  assert.equal((await fetch(`${base}/-/healthy`)).status, 200);
  assert.equal((await fetch(`${base}/-/ready`)).status, 200);
  const dev = await connectDevice(gw, "VIN5");
  t.after(() => dev.endAsync());
  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const name of [
    "edgegate_mqtt_messages_received_total",
    "edgegate_ingest_samples_total",
    "edgegate_outbox_samples_written_total",
    "edgegate_pipeline_series_active",
    "edgegate_outbox_rows",
    "edgegate_outbox_bytes",
    "edgegate_remote_write_requests_total",
    "edgegate_samples_dropped_total",
  ]) {
    assert.match(metrics, new RegExp(`^# TYPE ${name} `, "m"), name);
  }
  const status = (await (await fetch(`${base}/api/v1/status`)).json()) as {
    ready: boolean;
    mqtt: { connected_clients: number };
    outbox: { rows: number; bytes: number };
    targets: { name: string; url: string; last_success: string | null; last_error: unknown }[];
  };
  assert.equal(status.ready, true);
  assert.equal(status.mqtt.connected_clients, 1);
  assert.equal(status.outbox.rows, 0);
  assert.deepEqual(
    status.targets.map((x) => [x.name, x.url]),
    [["fake", recv.url]],
  );
});
