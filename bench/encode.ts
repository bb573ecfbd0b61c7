import { createRequire } from "node:module";
import { join } from "node:path";
import protobuf from "protobufjs";
import type { Sample } from "../gateway/core.js";
import { encodeWriteRequest, snappyCompress, splitBatches, type TimeSeries } from "../gateway/remote-write/codec.js";
import { SeriesView } from "../gateway/remote-write/pending-series.js";
import { median } from "./stats.js";

/**
 * encode: samples → Remote-Write request bodies, as the outbox sink does at
 * every flush (SeriesView: grouping into series and the order guard; then
 * splitBatches at max_samples_per_send, the WriteRequest writer, snappy).
 *
 * Baseline, same run, interleaved: protobufjs reflection (proto/remote.proto
 * loaded with protobufjs) encoding the same WriteRequests, already grouped,
 * compressed with the same snappy. A second baseline compresses with snappyjs,
 * which edgegate used before. Figures are samples per second, medians.
 */

const WriteRequest = protobuf.loadSync(join(import.meta.dirname, "..", "proto", "remote.proto")).lookupType("prometheus.WriteRequest");
const snappyjs = createRequire(import.meta.url)("snappyjs") as { compress(b: Uint8Array): Uint8Array };

const MAX_SAMPLES_PER_SEND = 2000;

export interface EncodeShape {
  name: string;
  series: number;
  samplesPerSeries: number;
}

/** A backlog-like flush (few series, many samples each) and a live flush (many series, one sample each). */
export const SHAPES: EncodeShape[] = [
  { name: "500 series × 400 samples", series: 500, samplesPerSeries: 400 },
  { name: "100k series × 1 sample", series: 100_000, samplesPerSeries: 1 },
];

function samplesFor(shape: EncodeShape, start: number): Sample[] {
  const out: Sample[] = [];
  const n = shape.series * shape.samplesPerSeries;
  for (let i = 0; i < n; i++) {
    const k = i % shape.series;
    // A fresh label object per sample, as the pipeline emits them.
    out.push({
      labels: { __name__: "vehicle_speed_kmh", vin: `EGWSM${String(k).padStart(12, "0")}`, fleet: `f${k % 3}`, model: "ev-van" },
      value: i * 0.5,
      timestamp: start + Math.floor(i / shape.series) * 1000,
    });
  }
  return out;
}

/** The batches as the sink builds them, with label arrays of their own (no encoding cached from an earlier round). */
function freshBatches(batches: TimeSeries[][]): TimeSeries[][] {
  const copies = new Map<TimeSeries["labels"], TimeSeries["labels"]>();
  return batches.map((b) =>
    b.map((ts) => {
      let labels = copies.get(ts.labels);
      if (labels === undefined) copies.set(ts.labels, (labels = ts.labels.map((l) => ({ name: l.name, value: l.value }))));
      return { labels, samples: ts.samples };
    }),
  );
}

function timed(fn: () => number): { ms: number; bytes: number } {
  const t0 = process.hrtime.bigint();
  const bytes = fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (bytes === 0) throw new Error("encode bench: nothing encoded");
  return { ms, bytes };
}

export interface EncodeResult {
  shape: string;
  samples: number;
  /** samples/s */
  fullPath: number;
  writerAndSnappy: number;
  protobufjs: number;
  protobufjsSnappyjs: number;
  compressedBytes: number;
}

export function benchEncode(shape: EncodeShape, start: number, reps = 7): EncodeResult {
  const samples = samplesFor(shape, start);
  const grouped = new SeriesView([], () => undefined).take(samples);
  const prebuilt = splitBatches(grouped, MAX_SAMPLES_PER_SEND);
  const runs = { fullPath: [] as number[], writerAndSnappy: [] as number[], protobufjs: [] as number[], protobufjsSnappyjs: [] as number[] };
  let compressedBytes = 0;
  for (let r = 0; r <= reps; r++) {
    globalThis.gc?.();
    const full = timed(() => {
      let bytes = 0;
      const series = new SeriesView([], () => undefined).take(samples);
      for (const b of splitBatches(series, MAX_SAMPLES_PER_SEND)) bytes += snappyCompress(encodeWriteRequest(b)).byteLength;
      return bytes;
    });
    globalThis.gc?.();
    const mine = freshBatches(prebuilt);
    const writer = timed(() => {
      let bytes = 0;
      for (const b of mine) bytes += snappyCompress(encodeWriteRequest(b)).byteLength;
      return bytes;
    });
    globalThis.gc?.();
    const theirs = freshBatches(prebuilt);
    const pbjs = timed(() => {
      let bytes = 0;
      for (const b of theirs) bytes += snappyCompress(WriteRequest.encode({ timeseries: b }).finish()).byteLength;
      return bytes;
    });
    globalThis.gc?.();
    const pbjsSj = timed(() => {
      let bytes = 0;
      for (const b of theirs) bytes += snappyjs.compress(WriteRequest.encode({ timeseries: b }).finish()).byteLength;
      return bytes;
    });
    if (r === 0) continue; // warm-up
    compressedBytes = full.bytes;
    runs.fullPath.push(full.ms);
    runs.writerAndSnappy.push(writer.ms);
    runs.protobufjs.push(pbjs.ms);
    runs.protobufjsSnappyjs.push(pbjsSj.ms);
  }
  const rate = (ms: number[]) => samples.length / (median(ms) / 1000);
  return {
    shape: shape.name,
    samples: samples.length,
    fullPath: rate(runs.fullPath),
    writerAndSnappy: rate(runs.writerAndSnappy),
    protobufjs: rate(runs.protobufjs),
    protobufjsSnappyjs: rate(runs.protobufjsSnappyjs),
    compressedBytes,
  };
}
