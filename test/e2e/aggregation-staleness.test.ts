import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startFakeReceiver, type FakeReceiver } from "../helpers/fake-receiver.js";
import { connectDevice, startTestGateway } from "../helpers/gateway-inproc.js";
import { waitFor } from "../helpers/wait.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";

/**
 * Stale markers end to end: the real gateway (in process, a clock the test
 * drives), a real MQTT client, a Remote-Write receiver that decodes the exact
 * NaN bits. A group that stops sending gets one stale marker, stamped
 * last sample + staleness_interval, after its last sample in the same series.
 */
let receiver: FakeReceiver;
let clock = 1_000_000_000_000; // window-aligned (a multiple of 10 s)
let gateway: Awaited<ReturnType<typeof startTestGateway>>;

before(async () => {
  receiver = await startFakeReceiver();
  gateway = await startTestGateway(
    `topics:
  - topic: "vehicles/{vin}/telemetry"
    metric_prefix: "vehicle_"
    timestamp_field: "ts"
    label_fields: [fleet]
aggregation:
  - match: vehicle_speed_kmh
    interval: 10s
    by: [fleet]
    outputs: [max]
    allowed_lateness: 1s
    staleness_interval: 20s
remote_write:
  - url: "${receiver.url}"
`,
    { now: () => clock },
  );
});

after(async () => {
  await gateway?.cleanup();
  await receiver?.close();
});

test("a group that stops sending gets one stale marker after its last aggregate", { timeout: 30_000 }, async () => {
  const device = await connectDevice(gateway.gw, "VINA");
  try {
    await device.publishAsync("vehicles/VINA/telemetry", JSON.stringify({ ts: clock + 2_000, fleet: "north", speed_kmh: 42 }), { qos: 1 });
  } finally {
    await device.endAsync();
  }
  const name = "vehicle_speed_kmh:10s_by_fleet_max";
  const end = 1_000_000_010_000;
  clock = end + 1_000; // window end + allowed_lateness
  gateway.gw.flushNow();
  await waitFor("the aggregate", () => (receiver.samples().some((s) => s.labels["__name__"] === name) ? true : undefined));
  clock = end + 20_000; // frontier = clock - 1 s < end + 20 s: not stale yet
  gateway.gw.flushNow();
  clock = end + 21_000; // frontier = end + 20 s: stale
  gateway.gw.flushNow();
  const samples = await waitFor("the stale marker", () => {
    const got = receiver.samples().filter((s) => s.labels["__name__"] === name);
    return got.length === 2 ? got : undefined;
  });
  assert.deepEqual(samples[0], { labels: { __name__: name, fleet: "north" }, value: 42, timestamp: end });
  assert.deepEqual(samples[1]!.labels, { __name__: name, fleet: "north" });
  assert.equal(samples[1]!.timestamp, end + 20_000);
  assert.ok(isStaleNaN(samples[1]!.value), "NaN with bits 0x7ff0000000000002");
  clock = end + 60_000;
  gateway.gw.flushNow();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(receiver.samples().filter((s) => s.labels["__name__"] === name).length, 2, "one marker only");
  const metrics = await gateway.gw.metrics.registry.metrics();
  assert.match(metrics, /^edgegate_aggregation_stale_markers_total 1$/m);
});
