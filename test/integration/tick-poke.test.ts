import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGateway, type Gateway } from "../../gateway/app.js";
import { parseConfig } from "../../gateway/config/load.js";
import { startFakeReceiver, type FakeReceiver } from "../helpers/fake-receiver.js";
import { connectDevice } from "../helpers/gateway-inproc.js";
import { waitFor } from "../helpers/wait.js";

/**
 * A window's close does not wait for the event loop's timers phase: the real gateway (in process,
 * a clock the test drives, a real MQTT client, a real SQLite file) is given a wall clock that jumps
 * past a window's close while no timer has had reason to fire, as when the poll phase reads sockets
 * for seconds. The next accepted message (or the report of its journal commit) finds the tick
 * overdue and runs it right after itself, so the window is in the outbox before that message's
 * PUBACK; the tick's timer would have run it up to a period (1 s here) later.
 */
const C0 = 1_000_000_000_000; // window-aligned
let clock = C0;
let dir: string;
let gw: Gateway;
let receiver: FakeReceiver;

before(async () => {
  receiver = await startFakeReceiver();
  dir = mkdtempSync(join(tmpdir(), "edgegate-tick-poke-"));
  const config = parseConfig(
    `mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
storage: {path: "${join(dir, "outbox.db")}", flush_interval: 1s}
topics:
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
remote_write:
  - url: "${receiver.url}"
`,
    "test config",
  );
  gw = buildGateway(config, { now: () => clock, shutdownSendTimeoutMs: 2000 });
  await gw.start();
});

after(async () => {
  await gw?.close();
  await receiver?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function metric(name: string): Promise<number> {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(await gw.metrics.registry.metrics());
  return m ? Number(m[1]) : 0;
}

test("a message accepted after a window's close runs the overdue close tick before its PUBACK", { timeout: 30_000 }, async () => {
  const device = await connectDevice(gw, "VINA");
  try {
    await device.publishAsync("vehicles/VINA/telemetry", JSON.stringify({ ts: C0 + 2_000, fleet: "north", speed_kmh: 42 }), { qos: 1 });
    // A periodic tick has seen the window open (its close is 11 s away on this clock: no one-off timer is armed).
    await waitFor("the window open", async () => ((await metric("edgegate_aggregation_windows_open")) === 1 ? true : undefined), 10_000, 50);
    assert.equal(await metric("edgegate_outbox_samples_written_total"), 0);

    clock = C0 + 11_005; // past the close (end + allowed_lateness), with no timer due for up to a second
    await device.publishAsync("vehicles/VINA/telemetry", JSON.stringify({ ts: C0 + 10_500, fleet: "north", speed_kmh: 50 }), { qos: 1 });
    assert.equal(await metric("edgegate_outbox_samples_written_total"), 1, "the closed window's aggregate was committed before the PUBACK");
    assert.equal(await metric("edgegate_aggregation_windows_open"), 0, "set by that tick, which ran before this message was processed");
  } finally {
    await device.endAsync();
  }
  const samples = await waitFor("the aggregate at the receiver", () => {
    const got = receiver.samples().filter((s) => s.labels["__name__"] === "vehicle_speed_kmh:10s_by_fleet_max");
    return got.length > 0 ? got : undefined;
  });
  assert.deepEqual(samples, [{ labels: { __name__: "vehicle_speed_kmh:10s_by_fleet_max", fleet: "north" }, value: 42, timestamp: C0 + 10_000 }]);
});
