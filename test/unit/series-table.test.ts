import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import protobuf from "protobufjs";
import type { Sample } from "../../gateway/prom/sample.js";
import { STALE_NAN, encodeWriteRequest, snappyCompress, splitBatches, toTimeSeries, type TimeSeries } from "../../gateway/remote-write/codec.js";
import { SeriesView } from "../../gateway/remote-write/pending-series.js";
import { splitByShard } from "../../gateway/remote-write/shard.js";

// The reference: protobufjs reflection over the proto file, snappyjs for the block format, and the
// per-flush grouping (toTimeSeries + a guard Map keyed by the sorted label set) the sink used before
// its series table.
const WriteRequest = protobuf.loadSync(join(import.meta.dirname, "../../proto/remote.proto")).lookupType("prometheus.WriteRequest");
const snappyjs = createRequire(import.meta.url)("snappyjs") as { uncompress(b: Uint8Array): Uint8Array };

interface LongLike {
  toString(): string;
}
type Decoded = { timeseries?: { labels?: { name?: string; value?: string }[]; samples?: { value?: number; timestamp?: number | LongLike }[] }[] };

function bitsOf(v: number): string {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  return dv.getBigUint64(0).toString(16);
}

type Plain = { labels: [string, string][]; samples: [string, string][] }[];

function viaProtobufjs(body: Uint8Array): Plain {
  const msg = WriteRequest.decode(snappyjs.uncompress(body)) as unknown as Decoded;
  return (msg.timeseries ?? []).map((ts) => ({
    labels: (ts.labels ?? []).map((l) => [l.name ?? "", l.value ?? ""] as [string, string]),
    samples: (ts.samples ?? []).map((s) => [bitsOf(s.value ?? 0), typeof s.timestamp === "object" ? s.timestamp.toString() : String(s.timestamp ?? 0)] as [string, string]),
  }));
}

function plain(series: readonly TimeSeries[]): Plain {
  return series.map((ts) => ({ labels: ts.labels.map((l) => [l.name, l.value] as [string, string]), samples: ts.samples.map((s) => [bitsOf(s.value), String(s.timestamp)] as [string, string]) }));
}

type Drops = Map<string, number>;

/** The sink's flush before the series table: group per flush, then a guard Map keyed by the sorted label set. */
class ReferenceView {
  private last = new Map<string, number>();
  constructor(readonly drops: Drops) {}
  take(samples: readonly Sample[]): TimeSeries[] {
    const { series, invalid, duplicates } = toTimeSeries(samples);
    const drop = (r: string, n: number) => n > 0 && this.drops.set(r, (this.drops.get(r) ?? 0) + n);
    drop("missing_metric_name", invalid);
    drop("duplicate", duplicates);
    const out: TimeSeries[] = [];
    for (const s of series) {
      const key = JSON.stringify(s.labels);
      const last = this.last.get(key);
      const kept = last === undefined ? s.samples : s.samples.filter((p) => p.timestamp > last);
      drop("duplicate", s.samples.filter((p) => p.timestamp === last).length);
      drop("out_of_order", s.samples.filter((p) => last !== undefined && p.timestamp < last).length);
      if (kept.length === 0) continue;
      this.last.set(key, kept[kept.length - 1]!.timestamp);
      out.push({ labels: s.labels, samples: kept });
    }
    return out;
  }
}

function counter(): [Drops, (reason: string, n: number) => void] {
  const m: Drops = new Map();
  return [m, (r, n) => m.set(r, (m.get(r) ?? 0) + n)];
}

const value = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, STALE_NAN, Infinity, -0, 0));
const labelName = fc.constantFrom("job", "vin", "fleet", "le", "a", "b");
const labelValue = fc.oneof(fc.constantFrom("", "x", "y", "ü", "日本", "😀", "a\u0000b"), fc.string({ maxLength: 12 }));
/** A label set drawn from a small space (series repeat), its keys in a random order. */
const labelsArb = fc
  .tuple(fc.constantFrom("m", "up", "", "vehicle_speed_kmh"), fc.dictionary(labelName, labelValue, { maxKeys: 3 }), fc.boolean())
  .map(([name, rest, nameFirst]) => {
    const entries = Object.entries(rest);
    if (name !== "" || nameFirst) entries[nameFirst ? "unshift" : "push"](["__name__", name]);
    return Object.fromEntries(entries) as Sample["labels"];
  });
const sampleArb = fc.record({
  labels: labelsArb,
  value,
  timestamp: fc.oneof(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_040 }), fc.constantFrom(-5, 0, 2 ** 35 - 1, 2 ** 35, 2 ** 42 - 1, 2 ** 42, Number.NaN, 1.7e12 + 0.5)),
});

test("flushes through the series table write the same WriteRequests as per-flush grouping, and protobufjs reads them back", () => {
  // Each flush is encoded for two targets of the view (as the sink does when their shards differ): a
  // series' shard hash is worked out at its first encode with several shards, whichever flush that is.
  const shardCounts = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 2 });
  fc.assert(
    fc.property(fc.array(fc.array(sampleArb, { maxLength: 60 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 20 }), fc.array(shardCounts, { minLength: 5, maxLength: 5 }), (flushes, maxPerSend, shardsPerFlush) => {
      const [got, onDrop] = counter();
      const view = new SeriesView([], onDrop);
      const want: Drops = new Map();
      const ref = new ReferenceView(want);
      for (const [f, samples] of flushes.entries()) {
        const expected = ref.take(samples);
        view.group(samples);
        for (const shards of shardsPerFlush[f]!) {
          const mine = view.encode(maxPerSend, shards, (body, n) => ({ payload: snappyCompress(body), samples: n }));
          const theirs = splitByShard(expected, shards).map((part) => splitBatches(part, maxPerSend).map((b) => encodeWriteRequest(b)));
          assert.equal(mine.length, theirs.length);
          for (let k = 0; k < theirs.length; k++) {
            assert.deepEqual(mine[k]!.map((b) => viaProtobufjs(b.payload)), theirs[k]!.map((b) => viaProtobufjs(snappyCompress(b))));
            assert.deepEqual(
              mine[k]!.map((b) => b.samples),
              theirs[k]!.map((b) => viaProtobufjs(snappyCompress(b)).reduce((n, s) => n + s.samples.length, 0)),
            );
            // Byte for byte: same series order, label bytes, samples.
            for (let j = 0; j < theirs[k]!.length; j++) assert.ok(Buffer.from(snappyjs.uncompress(mine[k]![j]!.payload)).equals(theirs[k]![j]!), `shard ${k} batch ${j}: bytes differ`);
          }
        }
      }
      assert.deepEqual(Object.fromEntries(got), Object.fromEntries(want));
    }),
    { numRuns: 300 },
  );
});

test("take() returns the series as TimeSeries, the same as per-flush grouping", () => {
  fc.assert(
    fc.property(fc.array(fc.array(sampleArb, { maxLength: 60 }), { minLength: 1, maxLength: 4 }), (flushes) => {
      const view = new SeriesView([], () => undefined);
      const ref = new ReferenceView(new Map());
      for (const samples of flushes) assert.deepEqual(plain(view.take(samples)), plain(ref.take(samples)));
    }),
    { numRuns: 200 },
  );
});

test("one label set in any key order (and with empty labels) is one series across flushes; a changed value is another", () => {
  const [drops, onDrop] = counter();
  const view = new SeriesView([], onDrop);
  view.take([{ labels: { __name__: "m", a: "1", b: "2" }, value: 1, timestamp: 1000 }]);
  const second = view.take([
    { labels: { b: "2", a: "1", __name__: "m", c: "" }, value: 2, timestamp: 1000 }, // the same series, same timestamp: a duplicate
    { labels: { b: "2", __name__: "m", a: "1" }, value: 3, timestamp: 900 }, // older: out of order
    { labels: { a: "1", b: "2", __name__: "m" }, value: 4, timestamp: 2000 },
    { labels: { a: "1", b: "3", __name__: "m" }, value: 5, timestamp: 500 }, // another value: a new series
  ]);
  assert.deepEqual(plain(second), plain([
    { labels: [{ name: "__name__", value: "m" }, { name: "a", value: "1" }, { name: "b", value: "2" }], samples: [{ value: 4, timestamp: 2000 }] },
    { labels: [{ name: "__name__", value: "m" }, { name: "a", value: "1" }, { name: "b", value: "3" }], samples: [{ value: 5, timestamp: 500 }] },
  ]));
  assert.deepEqual(Object.fromEntries(drops), { duplicate: 1, out_of_order: 1 });
  assert.equal(view.tracked, 2);
});

test("label sets whose hashes collide stay apart (the index verifies every match)", () => {
  // The index hashes a label name by its length and end characters only: these two names hash alike.
  const view = new SeriesView([], () => undefined);
  for (let round = 0; round < 3; round++) {
    const out = view.take([
      { labels: { __name__: "m", axb: "v" }, value: 1, timestamp: 1000 + round },
      { labels: { __name__: "m", ayb: "v" }, value: 2, timestamp: 1000 + round },
      { labels: { ayb: "v", __name__: "m" }, value: 3, timestamp: 1000 + round },
    ]);
    assert.deepEqual(
      out.map((s) => [s.labels[1]!.name, s.samples.map((p) => p.value)]),
      [["axb", [1]], ["ayb", [3]]],
    );
  }
  assert.equal(view.tracked, 2);
});

test("the table is bounded: past maxTracked the least recently sent series are evicted, the others keep their guard", () => {
  const [drops, onDrop] = counter();
  const view = new SeriesView([], onDrop, 8);
  const s = (d: number, ts: number): Sample => ({ labels: { __name__: "m", device: `d${d}` }, value: d, timestamp: ts });
  // One series per flush, d0 first: at the start of the 10th flush the table holds 9 > 8 series and
  // keeps the 6 most recently sent (d3…d8).
  for (let d = 0; d < 10; d++) view.take([s(d, 1000)]);
  assert.equal(view.tracked, 7);
  // d0 was forgotten: its late sample passes as after a restart; d5 kept its guard.
  const out = view.take([s(0, 500), s(5, 500)]);
  assert.deepEqual(out.map((x) => x.labels[1]!.value), ["d0"]);
  assert.equal(drops.get("out_of_order"), 1);
  assert.equal(view.tracked, 8);
  // A kept series is found after the renumbering, also by a label object in another key order.
  assert.equal(view.take([{ labels: { device: "d8", __name__: "m" }, value: 8, timestamp: 1000 }]).length, 0);
  assert.equal(drops.get("duplicate"), 1, "d8 at its last committed timestamp");
  // Encoding after the renumbering still writes the right labels.
  view.group([s(9, 3000), s(3, 3000), s(0, 3000)]);
  const [bodies] = view.encode(10, 1, (b) => b);
  assert.deepEqual(
    WriteRequest.decode(bodies![0]!).toJSON().timeseries.map((t: { labels: { value: string }[] }) => t.labels[1]!.value),
    ["d9", "d3", "d0"],
  );
});

test("with moves the guard waits for commit; orderState carries pending moves; a restored guard applies when a series is met", () => {
  const view = new SeriesView([], () => undefined);
  const a = { __name__: "m", device: "a" };
  const b = { __name__: "m", device: "b" };
  view.take([{ labels: a, value: 1, timestamp: 1000 }]);
  const moves = view.newMoves();
  view.take([{ labels: { ...a }, value: 2, timestamp: 2000 }, { labels: b, value: 1, timestamp: 1500 }], moves);
  // Not committed: the same samples are let through again (the caller retries after a rollback).
  assert.equal(view.take([{ labels: { ...a }, value: 2, timestamp: 2000 }], view.newMoves()).length, 1);
  const state = view.orderState(moves);
  assert.deepEqual(new Map(state), new Map([["__name__\u0000m\u0000device\u0000a\u0000", 2000], ["__name__\u0000m\u0000device\u0000b\u0000", 1500]]));
  view.commit(moves);
  assert.equal(view.take([{ labels: { ...a }, value: 2, timestamp: 2000 }]).length, 0);

  // A restarted view: checkpoint entries for series not met yet stay in its state until they are.
  const [drops, onDrop] = counter();
  const next = new SeriesView([], onDrop);
  next.restoreOrderState([...state, ["__name__\u0000m\u0000device\u0000c\u0000", 7]]);
  assert.equal(next.tracked, 3);
  assert.deepEqual(next.take([{ labels: { device: "b", __name__: "m" }, value: 9, timestamp: 1500 }, { labels: { __name__: "m", device: "c" }, value: 9, timestamp: 8 }]).length, 1);
  assert.deepEqual(Object.fromEntries(drops), { duplicate: 1 });
  assert.deepEqual(new Map(next.orderState()), new Map([["__name__\u0000m\u0000device\u0000a\u0000", 2000], ["__name__\u0000m\u0000device\u0000b\u0000", 1500], ["__name__\u0000m\u0000device\u0000c\u0000", 8]]));
});

test("remember teaches the guard without sending; adoptOrder carries the table over a reload", () => {
  const [drops, onDrop] = counter();
  const view = new SeriesView([], onDrop);
  view.remember([{ labels: { __name__: "m", d: "1" }, value: 1, timestamp: 5000 }, { labels: { __name__: "m", d: "1" }, value: 1, timestamp: 4000 }]);
  const next = new SeriesView([], onDrop);
  next.adoptOrder(view);
  assert.equal(next.take([{ labels: { d: "1", __name__: "m" }, value: 1, timestamp: 5000 }]).length, 0);
  assert.equal(drops.get("duplicate"), 1);
  assert.equal(next.take([{ labels: { d: "1", __name__: "m" }, value: 1, timestamp: 6000 }]).length, 1);
});

test("checkpoint entries not met since the restart count against the bound and are forgotten first", () => {
  const view = new SeriesView([], () => undefined, 4);
  view.restoreOrderState([["__name__\u0000m\u0000d\u0000r1\u0000", 5], ["__name__\u0000m\u0000d\u0000r2\u0000", 5], ["__name__\u0000m\u0000d\u0000r3\u0000", 5]]);
  view.take([0, 1].map((k) => ({ labels: { __name__: "m", d: `n${k}` }, value: k, timestamp: 10 })));
  assert.equal(view.tracked, 5);
  // Over the bound at the next flush: the restored entries go, the series sent since stay.
  const out = view.take([{ labels: { __name__: "m", d: "r1" }, value: 1, timestamp: 4 }, { labels: { __name__: "m", d: "n0" }, value: 1, timestamp: 9 }]);
  assert.deepEqual(out.map((s) => s.labels[1]!.value), ["r1"]);
  assert.equal(view.tracked, 3);
});
