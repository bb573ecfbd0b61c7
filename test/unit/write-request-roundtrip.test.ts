import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import protobuf from "protobufjs";
import type { Sample } from "../../gateway/prom/sample.js";
import { STALE_NAN, encodeWriteRequest, snappyCompress, splitBatches, toTimeSeries, type TimeSeries } from "../../gateway/remote-write/codec.js";

// The reference: protobufjs reflection over the proto file itself, and snappyjs for
// the block format, independent of the hand-written writer and the native compressor.
const WriteRequest = protobuf.loadSync(join(import.meta.dirname, "../../proto/remote.proto")).lookupType("prometheus.WriteRequest");
const snappyjs = createRequire(import.meta.url)("snappyjs") as { uncompress(b: Uint8Array): Uint8Array };

interface LongLike {
  toString(): string;
}
type Decoded = { timeseries?: { labels?: { name?: string; value?: string }[]; samples?: { value?: number; timestamp?: number | LongLike }[] }[] };

function bitsOf(v: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  return dv.getBigUint64(0);
}

/** protobufjs' reading of edgegate's bytes, timestamps as exact bigints and values as bit patterns. */
function viaProtobufjs(bytes: Uint8Array): { labels: [string, string][]; samples: [bigint, bigint][] }[] {
  const msg = WriteRequest.decode(bytes) as unknown as Decoded;
  return (msg.timeseries ?? []).map((ts) => ({
    labels: (ts.labels ?? []).map((l) => [l.name ?? "", l.value ?? ""] as [string, string]),
    samples: (ts.samples ?? []).map((s) => [bitsOf(s.value ?? 0), BigInt(typeof s.timestamp === "object" ? s.timestamp.toString() : (s.timestamp ?? 0))] as [bigint, bigint]),
  }));
}

function expected(series: readonly TimeSeries[]): { labels: [string, string][]; samples: [bigint, bigint][] }[] {
  return series.map((ts) => ({
    labels: ts.labels.map((l) => [l.name, l.value] as [string, string]),
    samples: ts.samples.map((s) => [bitsOf(s.value), BigInt(s.timestamp)] as [bigint, bigint]),
  }));
}

const value = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.NaN, STALE_NAN, Infinity, -Infinity, 0, -0, Number.MAX_VALUE, Number.MIN_VALUE),
);
const timestamp = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc.constantFrom(0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 - 1, 2 ** 35, 2 ** 42, Number.MAX_SAFE_INTEGER, -1, -(2 ** 40), Number.MIN_SAFE_INTEGER),
  fc.maxSafeInteger(),
);
const labelName = fc.oneof(fc.constantFrom("job", "instance", "vin", "fleet", "le", "a"), fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,20}$/));
const labelValue = fc.oneof(fc.string({ unit: "grapheme", maxLength: 200 }), fc.constantFrom("", "x", "ü", "日本", "a\u0000b", "\u0000"));
const labelSet = fc.dictionary(labelName, labelValue, { maxKeys: 6 });
const metricName = fc.constantFrom("m", "vehicle_speed_kmh", "up", "x".repeat(300));

test("the writer's WriteRequest decodes with protobufjs to exactly the series given (labels, value bits, int64 timestamps)", () => {
  const series = fc.array(
    fc.record({
      labels: fc.tuple(metricName, labelSet).map(([name, rest]) => {
        const labels = Object.entries({ ...rest, __name__: name }).filter(([, v]) => v !== "");
        labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return labels.map(([n, v]) => ({ name: n, value: v }));
      }),
      samples: fc.array(fc.record({ value, timestamp }), { minLength: 1, maxLength: 30 }),
    }),
    { maxLength: 20 },
  );
  fc.assert(
    fc.property(series, (ts) => {
      assert.deepEqual(viaProtobufjs(encodeWriteRequest(ts)), expected(ts));
    }),
    { numRuns: 300 },
  );
});

test("samples → series → batches → WriteRequest → snappy: snappyjs and protobufjs read back every sample, grouped by label set", () => {
  const sampleArb = fc.record({
    labels: fc.tuple(metricName, labelSet).map(([name, rest]) => ({ ...rest, __name__: name })),
    value,
    timestamp: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_100_000 }),
  });
  fc.assert(
    fc.property(fc.array(sampleArb, { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (samples: Sample[], maxPerSend) => {
      // Reference grouping: canonical label set → (timestamp → last value in the input).
      const want = new Map<string, Map<number, number>>();
      for (const s of samples) {
        const key = JSON.stringify(Object.entries(s.labels).filter(([, v]) => v !== "").sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        let points = want.get(key);
        if (points === undefined) want.set(key, (points = new Map()));
        points.set(s.timestamp, s.value);
      }
      const got = new Map<string, Map<number, bigint>>();
      let lastTs = new Map<string, number>();
      for (const batch of splitBatches(toTimeSeries(samples).series, maxPerSend)) {
        const decoded = viaProtobufjs(snappyjs.uncompress(snappyCompress(encodeWriteRequest(batch))));
        assert.ok(decoded.reduce((n, d) => n + d.samples.length, 0) <= maxPerSend);
        for (const d of decoded) {
          const key = JSON.stringify(d.labels);
          let points = got.get(key);
          if (points === undefined) got.set(key, (points = new Map()));
          for (const [bits, t] of d.samples) {
            const ts = Number(t);
            // In time order across batches, one sample per timestamp.
            assert.ok(ts > (lastTs.get(key) ?? -Infinity), `series ${key}: ${ts} after ${lastTs.get(key)}`);
            lastTs.set(key, ts);
            points.set(ts, bits);
          }
        }
      }
      lastTs = new Map();
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
      for (const [key, points] of want) {
        assert.deepEqual(
          [...got.get(key)!].sort(([a], [b]) => a - b),
          [...points].map(([t, v]) => [t, bitsOf(v)] as [number, bigint]).sort(([a], [b]) => a - b),
        );
      }
    }),
    { numRuns: 200 },
  );
});

test("one label set given in different key orders is one series", () => {
  const { series } = toTimeSeries([
    { labels: { __name__: "m", a: "1", b: "2" }, value: 1, timestamp: 1000 },
    { labels: { b: "2", __name__: "m", a: "1" }, value: 2, timestamp: 2000 },
    { labels: { a: "1", b: "2", __name__: "m", c: "" }, value: 3, timestamp: 3000 },
    { labels: { __name__: "m", a: "1\u0000b", b: "2" }, value: 4, timestamp: 1000 },
    { labels: { __name__: "m", a: "1", b: "2\u0000" }, value: 5, timestamp: 1000 },
  ]);
  assert.equal(series.length, 3);
  assert.deepEqual(
    series[0]!.samples.map((s) => s.value),
    [1, 2, 3],
  );
});

test("label strings are written as TextEncoder writes them, a lone surrogate as U+FFFD", () => {
  const values = ["plain", "ü", "日本", "😀", "a\ud800b", "\udc00", "x\ud83d"];
  const series: TimeSeries[] = values.map((v) => ({ labels: [{ name: "__name__", value: "m" }, { name: "v", value: v }], samples: [{ value: 1, timestamp: 1 }] }));
  const decoded = viaProtobufjs(encodeWriteRequest(series));
  const utf8 = new TextEncoder();
  const reference = new TextDecoder();
  assert.deepEqual(
    decoded.map((d) => d.labels[1]![1]),
    values.map((v) => reference.decode(utf8.encode(v))),
  );
  assert.equal(decoded[4]!.labels[1]![1], "a\ufffdb");
});

test("grouping stays one series per label set when a call of mostly new series stops using the trie midway", () => {
  const n = 3000;
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) samples.push({ labels: { __name__: "m", device: `d${i}`, fleet: "a" }, value: i, timestamp: 1000 });
  // The same label sets again, keys in another order, later timestamps.
  for (let i = 0; i < n; i++) samples.push({ labels: { fleet: "a", device: `d${i}`, __name__: "m" }, value: -i, timestamp: 2000 });
  const { series, invalid, duplicates } = toTimeSeries(samples);
  assert.equal(invalid, 0);
  assert.equal(duplicates, 0);
  assert.equal(series.length, n);
  for (let i = 0; i < n; i++) {
    assert.equal(series[i]!.labels.find((l) => l.name === "device")!.value, `d${i}`);
    assert.deepEqual(series[i]!.samples.map((p) => [p.timestamp, p.value]), [[1000, i], [2000, -i]]);
  }
});
