import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeWriteRequest, encodeWriteRequest, type TimeSeries } from "../../gateway/remote-write/codec.js";
import { splitIntoLanes } from "../../gateway/remote-write/lanes.js";

/** A merged backlog run: `rows` flushes of `series` series, one sample each, concatenated like the sender merges rows. */
function mergedRun(rows: number, series: number, perEntry = 1): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let r = 0; r < rows; r++) {
    const ts: TimeSeries[] = [];
    for (let k = 0; k < series; k++) {
      const samples = Array.from({ length: perEntry }, (_, j) => ({ value: r * 10 + j, timestamp: 1_000_000 + (r * perEntry + j) * 1000 }));
      ts.push({ labels: [{ name: "__name__", value: "m" }, { name: "vin", value: `V${k}` }], samples });
    }
    parts.push(encodeWriteRequest(ts));
  }
  return Buffer.concat(parts);
}

const key = (s: TimeSeries) => s.labels.map((l) => `${l.name}=${l.value}`).join(",");

test("every series goes to exactly one lane, in time order, and nothing is lost or added", () => {
  const request = mergedRun(20, 50);
  const lanes = splitIntoLanes(request, 4, 100);
  assert.equal(lanes.length, 4);
  const laneOf = new Map<string, number>();
  const seen = new Map<string, number[]>();
  let total = 0;
  lanes.forEach((requests, lane) => {
    for (const req of requests) {
      const decoded = decodeWriteRequest(req.body);
      const samples = decoded.reduce((n, s) => n + s.samples.length, 0);
      assert.equal(req.samples, samples, "the sample count given matches the body");
      assert.ok(req.samples <= 100, `a request holds ${req.samples} samples, more than 100`);
      total += samples;
      for (const s of decoded) {
        const k = key(s);
        assert.equal(laneOf.get(k) ?? lane, lane, `series ${k} in two lanes`);
        laneOf.set(k, lane);
        const ts = seen.get(k) ?? [];
        ts.push(...s.samples.map((x) => x.timestamp));
        seen.set(k, ts);
      }
    }
  });
  assert.equal(total, 20 * 50);
  assert.equal(seen.size, 50);
  for (const [k, ts] of seen) assert.deepEqual(ts, [...ts].sort((a, b) => a - b), `series ${k} out of order within its lane`);
  // The hash spreads 50 series over the lanes (none may take all of them).
  assert.ok(lanes.filter((l) => l.length > 0).length > 1, "all series hashed to one lane");
});

test("within a request, the entries of one series become one TimeSeries with its samples in order", () => {
  const request = mergedRun(3, 10);
  const [only] = splitIntoLanes(request, 1, 1000);
  assert.equal(only!.length, 1);
  const decoded = decodeWriteRequest(only![0]!.body);
  assert.equal(decoded.length, 10);
  for (const s of decoded) assert.deepEqual(s.samples.map((x) => x.timestamp), [1_000_000, 1_001_000, 1_002_000]);
  // The same content as the merged rows, series by series.
  const original = decodeWriteRequest(request);
  for (const s of decoded) assert.deepEqual(s.samples, original.filter((o) => key(o) === key(s)).flatMap((o) => o.samples));
});

test("a series entry larger than the bound is sent alone, not split or dropped", () => {
  const request = mergedRun(2, 3, 5);
  const lanes = splitIntoLanes(request, 2, 4);
  const all = lanes.flat();
  for (const r of all) assert.equal(r.samples, 5);
  assert.equal(all.length, 6);
  for (const r of all) assert.equal(decodeWriteRequest(r.body).length, 1);
});

test("a malformed request throws instead of sending part of it", () => {
  const request = mergedRun(2, 3);
  assert.throws(() => splitIntoLanes(request.subarray(0, request.length - 3), 2, 100), /WriteRequest/);
});

test("snappyDecompressFast reads what snappyCompress wrote and refuses a block longer than the limit", async () => {
  const { snappyCompress, snappyDecompressFast } = await import("../../gateway/remote-write/codec.js");
  const request = mergedRun(5, 20);
  const block = snappyCompress(request);
  assert.deepEqual(Buffer.from(snappyDecompressFast(block, request.length)), Buffer.from(request));
  assert.throws(() => snappyDecompressFast(block, request.length - 1), /exceeds the limit/);
  assert.throws(() => snappyDecompressFast(Uint8Array.from([5, 1, 2]), 100));
});

test("an entry with anything but labels and float samples (an exemplar) is copied as it is and ends its series' merging, so the order holds", () => {
  const entry = (ts: number, exemplar: boolean): Uint8Array => {
    const one = encodeWriteRequest([{ labels: [{ name: "__name__", value: "m" }], samples: [{ value: ts, timestamp: ts }] }]);
    // Strip the outer field (tag 0x0a + a one-byte length: the entry is short), then rewrap with an empty Exemplar (field 3).
    assert.equal(one[0], 0x0a);
    const inner = one.subarray(2);
    const body = exemplar ? Buffer.concat([inner, Uint8Array.from([0x1a, 0x00])]) : inner;
    return Buffer.concat([Uint8Array.from([0x0a, body.length]), body]);
  };
  const request = Buffer.concat([entry(1000, false), entry(2000, true), entry(3000, false), entry(4000, false)]);
  const [only] = splitIntoLanes(request, 1, 100);
  const decoded = decodeWriteRequest(only![0]!.body);
  assert.deepEqual(decoded.flatMap((s) => s.samples.map((x) => x.timestamp)), [1000, 2000, 3000, 4000]);
  assert.equal(decoded.length, 4, "after the exemplar entry, the series is not merged again within this request");
});
