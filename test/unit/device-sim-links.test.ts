import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backlog } from "../../device-sim/backlog.js";
import { createLinkModel, DEFAULT_CONNECTIVITY } from "../../device-sim/connectivity.js";
import { createFlinkGenerator, flinkRegion, FLINK_REGIONS, type FlinkEvent } from "../../device-sim/flink-events.js";
import { encodeReadings, forEachSignal } from "../../device-sim/payloads.js";
import { ProtobufDecoder } from "../../gateway/ingest/protobuf-decoder.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { generateMessages } from "../../device-sim/messages.js";
import { publishPacket } from "../../device-sim/link.js";
import { JsonDecoder } from "../../gateway/ingest/json-decoder.js";
import mqttPacket from "mqtt-packet";

describe("backlog (a telematics unit's bounded buffer)", () => {
  it("keeps order, overwrites the oldest when full and counts it", () => {
    const b = new Backlog<number>(5);
    for (let i = 0; i < 8; i++) b.push(i);
    assert.equal(b.length, 5);
    assert.equal(b.dropped, 3);
    assert.deepEqual(b.take(2), [3, 4]);
    b.unshift([1, 2]); // a failed publish goes out again first
    assert.deepEqual(b.take(10), [1, 2, 5, 6, 7]);
    assert.equal(b.length, 0);
    b.push(9);
    b.unshift([1, 2, 3, 4, 5]);
    assert.deepEqual(b.take(10), [2, 3, 4, 5, 9], "unshift beyond capacity drops the oldest");
    assert.equal(b.dropped, 4);
  });

  it("grows lazily and stays correct across wrap-around", () => {
    const b = new Backlog<number>(1000);
    const want: number[] = [];
    for (let i = 0; i < 3000; i++) {
      b.push(i);
      want.push(i);
      if (want.length > 1000) want.shift(); // the oldest is overwritten
      if (i % 7 === 0) assert.deepEqual(b.take(3), want.splice(0, 3));
    }
    assert.deepEqual(b.take(5000), want);
    assert.ok(b.dropped > 0);
  });
});

describe("link model", () => {
  const opts = { ...DEFAULT_CONNECTIVITY, deadZones: { perHour: 30, minMs: 5_000, maxMs: 30_000 }, tunnels: { perHour: 6, minMs: 30_000, maxMs: 180_000 } };
  const timeline = (seed: number, index: number): boolean[] => {
    const m = createLinkModel(opts, seed, index, 0);
    return Array.from({ length: 10 * 3600 }, (_, s) => m.onlineAt(s * 1000));
  };

  it("is deterministic per (seed, vehicle) and goes offline about as often and as long as configured", () => {
    const a = timeline(1, 0);
    assert.deepEqual(timeline(1, 0), a);
    assert.notDeepEqual(timeline(1, 1), a);
    let outages = 0;
    let offline = 0;
    for (let i = 0; i < a.length; i++) {
      if (!a[i]) offline++;
      if (i > 0 && a[i - 1] && !a[i]) outages++;
    }
    // 36 outages/h over 10 h; mean length 0.83·17.5 s + 0.17·105 s ≈ 32 s → ≈ 32 % offline.
    assert.ok(outages > 250 && outages < 470, `${outages} outages`);
    assert.ok(offline / a.length > 0.2 && offline / a.length < 0.45, `offline ${offline / a.length}`);
  });

  it("never goes offline with all rates 0, and a forced outage lasts exactly as asked", () => {
    const m = createLinkModel(DEFAULT_CONNECTIVITY, 1, 0, 0);
    for (let t = 0; t < 3_600_000; t += 10_000) assert.equal(m.onlineAt(t), true);
    m.force(4_000_000, 60_000);
    assert.equal(m.onlineAt(4_000_000), false);
    assert.equal(m.cause, "forced");
    assert.equal(m.onlineAt(4_059_999), false);
    assert.equal(m.onlineAt(4_060_000), true);
    assert.equal(m.cause, undefined);
  });
});

describe("Flink demo event stream", () => {
  const run = (n: number, seed = 5) => {
    const g = createFlinkGenerator({ seed, first: 0, count: 50 });
    return Array.from({ length: n }, (_, i) => g.next(1_000 + i));
  };

  it("is deterministic, uses V%010d ids and a region fixed per vehicle", () => {
    const a = run(20_000);
    assert.deepEqual(run(20_000), a);
    const regions = new Map<string, string>();
    for (const { index, event } of a) {
      assert.equal(event.vehicleId, `V${String(index).padStart(10, "0")}`);
      assert.match(event.vehicleId, /^V\d{10}$/);
      assert.equal(regions.get(event.vehicleId) ?? event.region, event.region);
      regions.set(event.vehicleId, event.region);
      assert.equal(event.region, flinkRegion(5, index));
      assert.ok(FLINK_REGIONS.includes(event.region));
      assert.deepEqual(Object.keys(event), ["eventType", "vehicleId", "region", "timestamp", "measurement"]);
    }
  });

  it("stamps each vehicle's events with strictly increasing milliseconds, even when the clock repeats one", () => {
    const g = createFlinkGenerator({ seed: 9, first: 0, count: 3 });
    const last = new Map<number, number>();
    let bumped = 0;
    for (let i = 0; i < 3_000; i++) {
      const wall = 1_000 + Math.floor(i / 10); // ten events per millisecond: most vehicles repeat a millisecond
      const { index, event } = g.next(wall);
      const prev = last.get(index);
      if (prev !== undefined) assert.ok(event.timestamp > prev, `vehicle ${index}: ${event.timestamp} after ${prev}`);
      assert.ok(event.timestamp >= wall);
      if (event.timestamp > wall) bumped++;
      last.set(index, event.timestamp);
    }
    assert.ok(bumped > 0);
  });

  it("follows the generator's rules: stopped → motor 0, moving → rpm ranges, 10 % warnings, counts 0..5", () => {
    const events = run(200_000).map((e) => e.event);
    const byType = (t: FlinkEvent["eventType"]) => events.filter((e) => e.eventType === t);
    const ic = byType("IC_RPM");
    const el = byType("ELECTRIC_RPM");
    const warn = byType("WARNINGS");
    assert.ok(ic.every((e) => Number.isInteger(e.measurement) && e.measurement >= 0 && e.measurement < 3000));
    assert.ok(el.every((e) => Number.isInteger(e.measurement) && e.measurement >= -10_000 && e.measurement < 10_000));
    assert.ok(warn.every((e) => e.measurement >= 0 && e.measurement <= 5));
    assert.ok(el.some((e) => e.measurement < 0), "negative electric rpm (regeneration)");
    // Toggle 0.01 per event: about half the vehicles move at any time; warnings ~10 % of a moving vehicle's events.
    const zeros = [...ic, ...el].filter((e) => e.measurement === 0).length;
    const share = warn.length / events.length;
    assert.ok(share > 0.03 && share < 0.07, `warnings share ${share}`);
    assert.ok(zeros / events.length > 0.3 && zeros / events.length < 0.7, `stopped share ${zeros / events.length}`);
    assert.ok(warn.some((e) => e.measurement > 0), "warning counts change (p = 0.001)");
  });
});

describe("payload modes", () => {
  const readings = generateMessages({ vehicles: 1, intervalMs: 1000, count: 3, seed: 1, startMs: 0 }).map((m) => m.payload);

  it("encodes one object, arrays for batches and replays, a protobuf batch, and one Flink event per message", () => {
    assert.deepEqual(JSON.parse(encodeReadings("telemetry", readings.slice(0, 1)) as string), readings[0]);
    assert.deepEqual(JSON.parse(encodeReadings("telemetry", readings) as string), readings);
    assert.deepEqual(JSON.parse(encodeReadings("batch", readings.slice(0, 1)) as string), readings.slice(0, 1));
    const out: Sample[] = [];
    new ProtobufDecoder({ metricPrefix: "", timestampField: "ts", labelFields: ["fleet", "model"] }).decode(encodeReadings("protobuf", readings) as Uint8Array, {}, 0, out, () => assert.fail());
    assert.deepEqual([...new Set(out.map((s) => s.timestamp))], [0, 1000, 2000]);
    const ev: FlinkEvent = { eventType: "IC_RPM", vehicleId: "V0000000012", region: "UK", timestamp: 5, measurement: 42 };
    assert.equal(encodeReadings("flink-events", [ev]), '{"eventType":"IC_RPM","vehicleId":"V0000000012","region":"UK","timestamp":5,"measurement":42}');
    assert.throws(() => encodeReadings("flink-events", [ev, ev]));
  });

  it("flink-batch: a JSON array of the events (even of one), which the gateway's JSON decoder takes element by element", () => {
    const evs: FlinkEvent[] = [
      { eventType: "IC_RPM", vehicleId: "V0000000003", region: "DE", timestamp: 1000, measurement: 1200 },
      { eventType: "WARNINGS", vehicleId: "V0000000003", region: "DE", timestamp: 1100, measurement: 2 },
      { eventType: "ELECTRIC_RPM", vehicleId: "V0000000003", region: "DE", timestamp: 1200, measurement: -40 },
    ];
    assert.deepEqual(JSON.parse(encodeReadings("flink-batch", evs) as string), evs);
    assert.equal(encodeReadings("flink-batch", evs.slice(0, 1)), `[${JSON.stringify(evs[0])}]`);
    // The flink-demo topic rule's decoding (timestamp_field, label_fields) applied to the batch.
    const out: Sample[] = [];
    const dec = new JsonDecoder({ metricPrefix: "fleet_event_", timestampField: "timestamp", labelFields: ["eventType", "vehicleId", "region"] });
    dec.decode(encodeReadings("flink-batch", evs) as string, {}, 0, out, () => assert.fail());
    assert.deepEqual(
      out.map((x) => [x.labels.__name__, x.labels.eventType, x.value, x.timestamp]),
      [["fleet_event_measurement", "IC_RPM", 1200, 1000], ["fleet_event_measurement", "WARNINGS", 2, 1100], ["fleet_event_measurement", "ELECTRIC_RPM", -40, 1200]],
    );
  });
  it("names the signals a reading carries as the gateway flattens them", () => {
    const seen: string[] = [];
    forEachSignal(readings[0]!, (s) => seen.push(s));
    assert.deepEqual(seen.sort(), [
      "battery_voltage_v", "coolant_temp_c", "dtc_count", "fuel_level_ratio", "gear", "ignition", "mil_on", "odometer_km", "position_lat", "position_lon", "rpm", "speed_kmh",
    ]);
    const ev: [string, number][] = [];
    forEachSignal({ eventType: "WARNINGS", vehicleId: "V1", region: "UK", timestamp: 1, measurement: 3 }, (s, v) => ev.push([s, v]));
    assert.deepEqual(ev, [["WARNINGS", 3]]);
  });
});

describe("QoS 0 fast path", () => {
  it("frames a PUBLISH that an MQTT parser reads back: topic, payload, QoS 0, multi-byte Remaining Length", () => {
    const topic = "fleet/UK/V0000000012/events";
    const t = Buffer.from(topic);
    const prefix = Buffer.concat([Buffer.from([0, t.length]), t]);
    for (const payload of ['{"a":1}', "x".repeat(200), new Uint8Array([1, 2, 3]), "é".repeat(20_000)]) {
      const packets: mqttPacket.Packet[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on("packet", (p) => packets.push(p));
      parser.on("error", (err) => assert.fail(err));
      parser.parse(publishPacket(prefix, payload));
      assert.equal(packets.length, 1);
      const p = packets[0] as mqttPacket.IPublishPacket;
      assert.equal(p.cmd, "publish");
      assert.equal(p.qos, 0);
      assert.equal(p.topic, topic);
      assert.deepEqual(Buffer.from(p.payload as Buffer), typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload));
    }
  });

});
