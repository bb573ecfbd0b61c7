import assert from "node:assert/strict";
import { test } from "node:test";
import type { Sample } from "../../gateway/prom/sample.js";
import {
  STALE_NAN,
  decodeWriteRequest,
  encodeWriteRequest,
  isStaleNaN,
  snappyCompress,
  snappyDecompress,
  splitBatches,
  toTimeSeries,
  type TimeSeries,
} from "../../gateway/remote-write/codec.js";

function sample(labels: Record<string, string>, value: number, timestamp: number): Sample {
  return { labels, value, timestamp };
}

/** Value and timestamp only: a sample with an integer timestamp is reused as its series' point, labels and all. */
function points(ts: TimeSeries): { value: number; timestamp: number }[] {
  return ts.samples.map((p) => ({ value: p.value, timestamp: p.timestamp }));
}

function bitsOf(v: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  return dv.getBigUint64(0);
}

test("toTimeSeries groups by label set, sorts labels by name and drops empty values", () => {
  const { series, invalid } = toTimeSeries([
    sample({ zone: "b", __name__: "temp", host: "x", empty: "" }, 1, 1000),
    sample({ host: "x", __name__: "temp", zone: "b" }, 2, 2000),
    sample({ __name__: "temp", host: "y" }, 3, 1000),
  ]);
  assert.equal(invalid, 0);
  assert.equal(series.length, 2);
  assert.deepEqual(series[0]!.labels, [
    { name: "__name__", value: "temp" },
    { name: "host", value: "x" },
    { name: "zone", value: "b" },
  ]);
  assert.deepEqual(points(series[0]!), [
    { value: 1, timestamp: 1000 },
    { value: 2, timestamp: 2000 },
  ]);
  for (const ts of series) {
    const names = ts.labels.map((l) => l.name);
    assert.deepEqual(names, [...new Set(names)].sort(), "sorted and unique");
    assert.ok(ts.labels.every((l) => l.value !== ""), "no empty values");
  }
});

test("a label value cannot forge another label set's grouping key", () => {
  const { series } = toTimeSeries([
    sample({ __name__: "m", a: "1:x" }, 1, 1),
    sample({ __name__: "m", a: "1", x: "" }, 2, 1),
  ]);
  assert.equal(series.length, 2);
});

test("samples without __name__ (or with a non-finite timestamp) are counted invalid and skipped", () => {
  const { series, invalid } = toTimeSeries([
    sample({ host: "x" }, 1, 1000),
    sample({ __name__: "", host: "x" }, 1, 1000),
    sample({ __name__: "ok" }, 1, Number.NaN),
    sample({ __name__: "ok" }, 5, 1000),
  ]);
  assert.equal(invalid, 3);
  assert.equal(series.length, 1);
  assert.deepEqual(points(series[0]!), [{ value: 5, timestamp: 1000 }]);
});

test("samples are sorted per series, duplicates collapse to the last one in the input, timestamps truncated", () => {
  const { series } = toTimeSeries([
    sample({ __name__: "m" }, 3, 3000),
    sample({ __name__: "m" }, 1, 1000.9),
    sample({ __name__: "m" }, 20, 2000),
    sample({ __name__: "m" }, 21, 2000),
    sample({ __name__: "m" }, 22, 2000.5),
  ]);
  assert.deepEqual(points(series[0]!), [
    { value: 1, timestamp: 1000 },
    { value: 22, timestamp: 2000 },
    { value: 3, timestamp: 3000 },
  ]);
});

test("splitBatches: at most maxSamples per batch, a series split in time order, nothing lost", () => {
  const series: TimeSeries[] = [
    { labels: [{ name: "__name__", value: "a" }], samples: [1, 2, 3, 4, 5].map((t) => ({ value: t, timestamp: t })) },
    { labels: [{ name: "__name__", value: "b" }], samples: [1, 2].map((t) => ({ value: t, timestamp: t })) },
  ];
  const batches = splitBatches(series, 3);
  assert.deepEqual(
    batches.map((b) => b.map((ts) => ts.samples.length)),
    [[3], [2, 1], [1]],
  );
  for (const b of batches) assert.ok(b.reduce((n, ts) => n + ts.samples.length, 0) <= 3);
  const aTimes = batches.flat().filter((ts) => ts.labels[0]!.value === "a").flatMap((ts) => ts.samples.map((s) => s.timestamp));
  assert.deepEqual(aTimes, [1, 2, 3, 4, 5]);
  assert.deepEqual(splitBatches([], 10), []);
  assert.equal(splitBatches(series, 100).length, 1);
  assert.throws(() => splitBatches(series, 0), RangeError);
});

test("encode → decode round trip, int64 timestamps as numbers", () => {
  const series: TimeSeries[] = [
    {
      labels: [{ name: "__name__", value: "vehicle_speed_kmh" }, { name: "vin", value: "V1" }],
      samples: [
        { value: 42.5, timestamp: 1700000010000 },
        { value: 0, timestamp: 1700000020000 },
        { value: -1e-300, timestamp: 1700000030000 },
        { value: Infinity, timestamp: 2 ** 52 },
      ],
    },
    { labels: [{ name: "__name__", value: "b" }], samples: [{ value: 1, timestamp: -5 }] },
  ];
  const decoded = decodeWriteRequest(encodeWriteRequest(series));
  assert.deepEqual(decoded, series);
  assert.equal(typeof decoded[0]!.samples[0]!.timestamp, "number");
});

test("the stale marker keeps its exact bit pattern through encode → snappy → decode", () => {
  assert.equal(bitsOf(STALE_NAN), 0x7ff0000000000002n);
  assert.ok(isStaleNaN(STALE_NAN));
  assert.ok(!isStaleNaN(Number.NaN));
  assert.ok(!isStaleNaN(0));
  const { series } = toTimeSeries([sample({ __name__: "m" }, STALE_NAN, 1000), sample({ __name__: "m" }, Number.NaN, 2000)]);
  const bytes = encodeWriteRequest(series);
  // The double is written little-endian right after its field tag 0x09 (field 1, wire type 1).
  const hex = Buffer.from(bytes).toString("hex");
  assert.ok(hex.includes("090200000000" + "00f07f"), `stale bits on the wire: ${hex}`);
  const back = decodeWriteRequest(snappyDecompress(snappyCompress(bytes), 1 << 20));
  assert.equal(bitsOf(back[0]!.samples[0]!.value), 0x7ff0000000000002n);
  assert.ok(isStaleNaN(back[0]!.samples[0]!.value));
  assert.ok(Number.isNaN(back[0]!.samples[1]!.value) && !isStaleNaN(back[0]!.samples[1]!.value));
});

test("snappy block round trip, and a refusal over maxLength", () => {
  const input = new Uint8Array(100_000);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7) % 13;
  const compressed = snappyCompress(input);
  assert.ok(compressed.length < input.length / 4, `compressed to ${compressed.length}`);
  // Block format starts with the uncompressed length as a varint (framed starts with 0xff "sNaPpY").
  assert.notEqual(compressed[0], 0xff);
  assert.deepEqual(Buffer.from(snappyDecompress(compressed, input.length)), Buffer.from(input));
  assert.throws(() => snappyDecompress(compressed, input.length - 1), /too big/);
  assert.throws(() => snappyDecompress(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1 << 20));
});
