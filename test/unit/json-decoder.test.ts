import { test } from "node:test";
import assert from "node:assert/strict";
import { JsonDecoder, parseTimestamp } from "../../gateway/ingest/json-decoder.js";
import type { Sample } from "../../gateway/prom/sample.js";

const ARRIVAL = 1_700_000_000_000;

function decode(payload: string, opts: Partial<ConstructorParameters<typeof JsonDecoder>[0]> = {}, base: Record<string, string> = { vin: "V1" }) {
  const dec = new JsonDecoder({ metricPrefix: "vehicle_", timestampField: "ts", labelFields: [], ...opts });
  const out: Sample[] = [];
  const drops: Record<string, number> = {};
  dec.decode(payload, base, ARRIVAL, out, (reason, n) => (drops[reason] = (drops[reason] ?? 0) + n));
  return { out, drops };
}

test("object: numeric fields become samples with the device timestamp", () => {
  const { out, drops } = decode(`{"ts": 1700000001234, "speed_kmh": 52.5, "rpm": 1800}`);
  assert.deepEqual(out, [
    { labels: { vin: "V1", __name__: "vehicle_speed_kmh" }, value: 52.5, timestamp: 1700000001234 },
    { labels: { vin: "V1", __name__: "vehicle_rpm" }, value: 1800, timestamp: 1700000001234 },
  ]);
  assert.deepEqual(drops, {});
});

test("array: a backlog in one message keeps each element's own timestamp", () => {
  const { out } = decode(`[{"ts": 1000, "speed_kmh": 1}, {"ts": 2000, "speed_kmh": 2}]`);
  assert.deepEqual(
    out.map((s) => [s.value, s.timestamp]),
    [
      [1, 1000],
      [2, 2000],
    ],
  );
});

test("nested objects flatten with _ and booleans become 1/0", () => {
  const { out } = decode(`{"position": {"lat": 52.5, "lon": 13.4, "fix": {"ok": true}}, "engine_on": false}`);
  assert.deepEqual(
    out.map((s) => [s.labels.__name__, s.value]),
    [
      ["vehicle_position_lat", 52.5],
      ["vehicle_position_lon", 13.4],
      ["vehicle_position_fix_ok", 1],
      ["vehicle_engine_on", 0],
    ],
  );
});

test("missing timestamp → arrival time", () => {
  const { out } = decode(`{"speed_kmh": 3}`);
  assert.equal(out[0]?.timestamp, ARRIVAL);
});

test("no timestamp_field configured → arrival time even if the payload has ts", () => {
  const { out } = decode(`{"ts": 5, "speed_kmh": 3}`, { timestampField: undefined });
  assert.deepEqual(
    out.map((s) => [s.labels.__name__, s.timestamp]),
    [
      ["vehicle_ts", ARRIVAL],
      ["vehicle_speed_kmh", ARRIVAL],
    ],
  );
});

test("RFC 3339 timestamps, with offsets and fractions", () => {
  assert.equal(parseTimestamp("2023-11-14T22:13:20Z"), 1_700_000_000_000);
  assert.equal(parseTimestamp("2023-11-14T23:13:20.5+01:00"), 1_700_000_000_500);
  assert.ok(Number.isNaN(parseTimestamp("yesterday")));
  assert.ok(Number.isNaN(parseTimestamp("2023-11-14"))); // no time: not RFC 3339
  assert.ok(Number.isNaN(parseTimestamp(-5)));
  assert.ok(Number.isNaN(parseTimestamp(true)));
});

test("invalid timestamp: the element is dropped and counted, the rest of the array kept", () => {
  const { out, drops } = decode(`[{"ts": "garbage", "speed_kmh": 1}, {"ts": 2000, "speed_kmh": 2}]`);
  assert.deepEqual(out.map((s) => s.value), [2]);
  assert.deepEqual(drops, { invalid_timestamp: 1 });
});

test("label fields become labels; the topic's labels win over payload fields of the same name", () => {
  const { out } = decode(`{"fleet": "north", "vin": "SPOOF", "model": 7, "speed_kmh": 1}`, { labelFields: ["fleet", "vin", "model"] });
  assert.deepEqual(out[0]?.labels, { fleet: "north", vin: "V1", model: "7", __name__: "vehicle_speed_kmh" });
  assert.equal(out.length, 1);
});

test("what cannot be mapped is counted by reason, never thrown", () => {
  const bad = decode(`{not json`);
  assert.deepEqual(bad.drops, { invalid_json: 1 });
  const scalar = decode(`42`);
  assert.deepEqual(scalar.drops, { invalid_payload: 1 });
  const mixed = decode(`{"speed_kmh": 1, "note": "hello", "list": [1, 2], "nothing": null}`);
  assert.equal(mixed.out.length, 1);
  assert.deepEqual(mixed.drops, { non_numeric_field: 3 });
  const empty = decode(`{"note": "x"}`);
  assert.deepEqual(empty.drops, { non_numeric_field: 1, no_samples: 1 });
});

test("field names are sanitized into valid metric names", () => {
  const { out } = decode(`{"fuel-level %": 0.5, "2nd": 1}`, { metricPrefix: "" });
  assert.deepEqual(
    out.map((s) => s.labels.__name__),
    ["fuel_level__", "_2nd"],
  );
});

test("a label field cannot overwrite the metric name (names starting with __ are reserved)", () => {
  const { out } = decode(`{"__name__": "evil", "speed_kmh": 1}`, { labelFields: ["__name__"] });
  assert.deepEqual(out.map((s) => s.labels.__name__), ["vehicle_speed_kmh"]);
});
