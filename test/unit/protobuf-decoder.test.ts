import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeTelemetryBatch, ProtobufDecoder } from "../../gateway/ingest/protobuf-decoder.js";
import { JsonDecoder } from "../../gateway/ingest/json-decoder.js";
import { TopicRouter } from "../../gateway/ingest/topic-router.js";
import { parseConfig } from "../../gateway/config/load.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { generateMessages } from "../../device-sim/messages.js";

const opts = { metricPrefix: "vehicle_", timestampField: "ts", labelFields: ["fleet", "model"] };
const sort = (xs: Sample[]) => [...xs].sort((a, b) => a.labels.__name__!.localeCompare(b.labels.__name__!) || a.timestamp - b.timestamp);

function decodeBoth(readings: object[]): { pb: Sample[]; json: Sample[]; drops: string[] } {
  const drops: string[] = [];
  const pb: Sample[] = [];
  const json: Sample[] = [];
  new ProtobufDecoder(opts).decode(encodeTelemetryBatch(readings), { vin: "V1" }, 5, pb, (r) => drops.push(r));
  new JsonDecoder(opts).decode(JSON.stringify(readings), { vin: "V1" }, 5, json, (r) => drops.push(`json:${r}`));
  return { pb, json, drops };
}

describe("protobuf telemetry payload", () => {
  it("yields exactly the samples the same readings give as JSON (names, labels, timestamps, values)", () => {
    const readings = generateMessages({ vehicles: 3, intervalMs: 1000, count: 30, seed: 3, startMs: 1_700_000_000_000 }).map((m) => m.payload);
    const { pb, json, drops } = decodeBoth(readings);
    assert.deepEqual(drops, []);
    assert.equal(pb.length, 30 * 12);
    assert.deepEqual(sort(pb), sort(json));
    const speed = pb.find((s) => s.labels.__name__ === "vehicle_speed_kmh")!;
    assert.deepEqual(Object.keys(speed.labels).sort(), ["__name__", "fleet", "model", "vin"]);
    assert.equal(speed.timestamp, 1_700_000_000_000);
  });

  it("keeps a present zero and false, and makes no sample of an absent field", () => {
    const { pb } = decodeBoth([{ ts: 1000, speed_kmh: 0, mil_on: false, position: { lat: 1.25 } }]);
    assert.deepEqual(
      sort(pb).map((s) => [s.labels.__name__, s.value, s.timestamp]),
      [
        ["vehicle_mil_on", 0, 1000],
        ["vehicle_position_lat", 1.25, 1000],
        ["vehicle_speed_kmh", 0, 1000],
      ],
    );
  });

  it("uses the arrival time without a timestamp field, and counts undecodable payloads", () => {
    const out: Sample[] = [];
    const drops: string[] = [];
    const d = new ProtobufDecoder({ metricPrefix: "", labelFields: [] });
    d.decode(encodeTelemetryBatch([{ ts: 7, rpm: 900 }]), {}, 42, out, (r) => drops.push(r));
    assert.deepEqual(out.map((s) => [s.labels.__name__, s.timestamp]).sort(), [["rpm", 42], ["ts", 42]]);
    d.decode(Buffer.from("0a0508011234", "hex"), {}, 42, out, (r) => drops.push(r));
    d.decode(new Uint8Array(0), {}, 42, out, (r) => drops.push(r));
    assert.deepEqual(drops, ["invalid_protobuf", "no_samples"]);
  });

  it("is selected by a topic rule's `format: protobuf`, and JSON rules still get text", () => {
    const config = parseConfig(
      `topics:
  - {topic: "pb/{vin}/t", format: protobuf, metric_prefix: "p_", timestamp_field: ts, label_fields: [fleet]}
  - {topic: "js/{vin}/t", metric_prefix: "j_", timestamp_field: ts}
remote_write: [{url: "http://127.0.0.1:1/api/v1/write"}]`,
      "t",
    );
    const router = new TopicRouter(config.topics);
    const out: Sample[] = [];
    const drops: string[] = [];
    assert.ok(router.route("pb/V9/t", encodeTelemetryBatch([{ ts: 1, fleet: "north", gear: 3 }]), 0, out, (r) => drops.push(r)));
    assert.ok(router.route("js/V9/t", Buffer.from('{"ts": 2, "gear": 4}'), 0, out, (r) => drops.push(r)));
    assert.ok(router.route("js/V9/t", '{"ts": 3, "gear": 5}', 0, out, (r) => drops.push(r)));
    assert.deepEqual(drops, []);
    assert.deepEqual(
      out.map((s) => [s.labels.__name__, s.labels.vin, s.labels.fleet, s.value, s.timestamp]),
      [
        ["p_gear", "V9", "north", 3, 1],
        ["j_gear", "V9", undefined, 4, 2],
        ["j_gear", "V9", undefined, 5, 3],
      ],
    );
    assert.throws(() => parseConfig(`topics: [{topic: "a", format: xml}]\nremote_write: [{url: "http://h/w"}]`, "t"), /topics\[0\]\.format/);
  });

  it("builds samples from the decoded readings directly: a NaN double (which JSON cannot carry) is invalid_value", () => {
    const drops: string[] = [];
    const out: Sample[] = [];
    new ProtobufDecoder(opts).decode(encodeTelemetryBatch([{ ts: 1000, speed_kmh: Number.NaN, rpm: 900 }]), { vin: "V1" }, 5, out, (r) => drops.push(r));
    assert.deepEqual(drops, ["invalid_value"]);
    assert.deepEqual(out.map((x) => [x.labels.__name__, x.value, x.timestamp]), [["vehicle_rpm", 900, 1000]]);
  });
});
