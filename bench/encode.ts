import { join } from "node:path";
import protobuf from "protobufjs";
import type { Sample } from "../gateway/core.js";
import { snappyCompress, splitBatches, toTimeSeries, type TimeSeries } from "../gateway/remote-write/codec.js";
import { SeriesView } from "../gateway/remote-write/pending-series.js";
import { median } from "./stats.js";

/**
 * encode: samples → Remote-Write request bodies (WriteRequest, snappy), as
 * the outbox sink does at every flush, against protobufjs reflection
 * (proto/remote.proto loaded with protobufjs) over the same data, interleaved
 * in one run, medians. Every side compresses with the same snappy (the
 * native `snappy` package) and cuts batches at 2,000 samples.
 *
 * edgegate (what the sink runs, SeriesView):
 * - steady: the view's series table already holds the series (every flush
 *   after a series' first): grouping into series + the order guard, then the
 *   WriteRequest writer and snappy.
 * - first flush: a new view, every series new to it (interned, label bytes
 *   encoded), then the same.
 *
 * Baselines:
 * - protobufjs, grouped beforehand: `WriteRequest.encode` over WriteRequest
 *   objects built before the clock starts (label arrays of their own), + snappy.
 *   The issue's baseline taken literally: it does no grouping.
 * - protobufjs with grouping: what a protobufjs user writes to get there —
 *   samples grouped by a key of their sorted labels into a Map of
 *   { labels, samples } objects, then the same encode + snappy.
 *
 * The same without snappy (writer only) shows how much of each side is the
 * compressor both share. Samples are fresh objects every run (labels parsed
 * from JSON, as a decoder makes them), timestamps moving on so the order
 * guard lets everything through. Figures are samples per CPU second (the
 * process's user + system time over each run: on shared cores wall time
 * mostly measures the other tenants).
 */

const WriteRequest = protobuf.loadSync(join(import.meta.dirname, "..", "proto", "remote.proto")).lookupType("prometheus.WriteRequest");

const MAX_SAMPLES_PER_SEND = 2000;
/** Runs left out of the medians: the JIT settles on code for the paths a flush takes. */
const WARMUP = 2;

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

/** The flush's label objects as JSON (series interleaved, as devices report), parsed afresh for every run. */
function labelsJson(shape: EncodeShape): string {
  const out: unknown[] = [];
  const n = shape.series * shape.samplesPerSeries;
  for (let i = 0; i < n; i++) {
    const k = i % shape.series;
    out.push({ __name__: "vehicle_speed_kmh", vin: `EGWSM${String(k).padStart(12, "0")}`, fleet: `f${k % 3}`, model: "ev-van" });
  }
  return JSON.stringify(out);
}

/** Fresh samples as a decoder makes them: new label objects and strings, one object literal per sample. */
function freshSamples(json: string, shape: EncodeShape, start: number): Sample[] {
  const labels = JSON.parse(json) as Sample["labels"][];
  const samples: Sample[] = new Array<Sample>(labels.length);
  for (let i = 0; i < labels.length; i++) samples[i] = { labels: labels[i]!, value: i * 0.5, timestamp: start + Math.floor(i / shape.series) * 1000 };
  return samples;
}

/** The batches as protobufjs gets them, with label arrays of their own (nothing cached from an earlier run). */
function freshBatches(batches: TimeSeries[][]): TimeSeries[][] {
  const copies = new Map<TimeSeries["labels"], TimeSeries["labels"]>();
  return batches.map((b) =>
    b.map((ts) => {
      let labels = copies.get(ts.labels);
      if (labels === undefined) copies.set(ts.labels, (labels = ts.labels.map((l) => ({ name: l.name, value: l.value }))));
      return { labels, samples: ts.samples.map((s) => ({ value: s.value, timestamp: s.timestamp })) };
    }),
  );
}

/** The protobufjs user's grouping: a key of the sorted labels → { labels, samples }, batches of MAX_SAMPLES_PER_SEND. */
function groupForProtobufjs(samples: readonly Sample[]): TimeSeries[][] {
  const byKey = new Map<string, TimeSeries>();
  for (const s of samples) {
    const names = Object.keys(s.labels).sort();
    let key = "";
    for (const n of names) key += n + "\u0000" + s.labels[n] + "\u0000";
    let ts = byKey.get(key);
    if (ts === undefined) byKey.set(key, (ts = { labels: names.map((n) => ({ name: n, value: s.labels[n]! })), samples: [] }));
    ts.samples.push({ value: s.value, timestamp: s.timestamp });
  }
  return splitBatches([...byKey.values()], MAX_SAMPLES_PER_SEND);
}

/** CPU time (user + system, every thread of the process: GC helpers count) of `fn`, in ms: what a run costs whatever else the shared cores run. */
function timed(fn: () => number): number {
  const c0 = process.cpuUsage();
  const bytes = fn();
  const c = process.cpuUsage(c0);
  if (bytes === 0) throw new Error("encode bench: nothing encoded");
  return (c.user + c.system) / 1000;
}

const decodeAll = (bodies: Uint8Array[]) => bodies.map((b) => WriteRequest.toObject(WriteRequest.decode(b), { longs: String }));

export interface EncodeResult {
  shape: string;
  samples: number;
  /** samples per CPU second, medians */
  steady: number;
  firstFlush: number;
  protobufjs: number;
  protobufjsGrouping: number;
  steadyNoSnappy: number;
  protobufjsNoSnappy: number;
  /** CPU ms, medians: the steady path's grouping and its writer + snappy */
  steadyGroupMs: number;
  steadyWriteMs: number;
}

export async function benchEncode(shape: EncodeShape, start: number, reps = 7): Promise<EncodeResult> {
  const json = labelsJson(shape);
  const span = shape.samplesPerSeries * 1000;
  const prebuilt = splitBatches(toTimeSeries(freshSamples(json, shape, start)).series, MAX_SAMPLES_PER_SEND);
  const view = new SeriesView([], () => undefined);
  const runs: Record<Exclude<keyof EncodeResult, "shape" | "samples">, number[]> = {
    steady: [],
    firstFlush: [],
    protobufjs: [],
    protobufjsGrouping: [],
    steadyNoSnappy: [],
    protobufjsNoSnappy: [],
    steadyGroupMs: [],
    steadyWriteMs: [],
  };
  let n = 0;
  let round = 0;
  const next = () => freshSamples(json, shape, start + round++ * span);
  // A full collection, then a pause until the process is idle: the collector sweeps on helper threads after it,
  // CPU time the next run would be charged. On a loaded box a fixed 150 ms was not always enough (steady runs
  // of one process came out 2–3× slower than those of another); wait until 50 ms pass with < 0.5 ms of CPU (at most 3 s).
  const gc = async () => {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 60; i++) {
      const c0 = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 50));
      const c = process.cpuUsage(c0);
      if (c.user + c.system < 500) break;
    }
  };
  for (let r = 0; r < WARMUP + reps; r++) {
    let samples = next();
    await gc();
    let groupMs = 0;
    const steady = timed(() => {
      const c0 = process.cpuUsage();
      view.group(samples);
      const c = process.cpuUsage(c0);
      groupMs = (c.user + c.system) / 1000;
      let bytes = 0;
      view.encode(MAX_SAMPLES_PER_SEND, 1, (body) => (bytes += snappyCompress(body).byteLength));
      return bytes;
    });
    samples = next();
    await gc();
    const steadyNoSnappy = timed(() => {
      view.group(samples);
      let bytes = 0;
      view.encode(MAX_SAMPLES_PER_SEND, 1, (body) => (bytes += body.byteLength));
      return bytes;
    });
    samples = next();
    await gc();
    const first = new SeriesView([], () => undefined);
    const firstFlush = timed(() => {
      first.group(samples);
      let bytes = 0;
      first.encode(MAX_SAMPLES_PER_SEND, 1, (body) => (bytes += snappyCompress(body).byteLength));
      return bytes;
    });
    const theirs = freshBatches(prebuilt);
    await gc();
    const pbjs = timed(() => {
      let bytes = 0;
      for (const b of theirs) bytes += snappyCompress(WriteRequest.encode({ timeseries: b }).finish()).byteLength;
      return bytes;
    });
    const theirs2 = freshBatches(prebuilt);
    await gc();
    const pbjsNoSnappy = timed(() => {
      let bytes = 0;
      for (const b of theirs2) bytes += WriteRequest.encode({ timeseries: b }).finish().byteLength;
      return bytes;
    });
    samples = next();
    await gc();
    const pbjsGrouping = timed(() => {
      let bytes = 0;
      for (const b of groupForProtobufjs(samples)) bytes += snappyCompress(WriteRequest.encode({ timeseries: b }).finish()).byteLength;
      return bytes;
    });
    if (r < WARMUP) {
      if (r > 0) continue;
      // Warm-up; and both sides must write the same requests (decoded by protobufjs).
      const check = next();
      const mine: Uint8Array[] = [];
      const v = new SeriesView([], () => undefined);
      v.group(check);
      v.encode(MAX_SAMPLES_PER_SEND, 1, (body) => mine.push(body));
      const ref = groupForProtobufjs(check).map((b) => WriteRequest.encode({ timeseries: b }).finish());
      if (JSON.stringify(decodeAll(mine)) !== JSON.stringify(decodeAll(ref))) throw new Error("encode bench: edgegate and protobufjs wrote different requests");
      n = check.length;
      continue;
    }
    runs.steady.push(steady);
    runs.steadyGroupMs.push(groupMs);
    runs.steadyWriteMs.push(steady - groupMs);
    runs.steadyNoSnappy.push(steadyNoSnappy);
    runs.firstFlush.push(firstFlush);
    runs.protobufjs.push(pbjs);
    runs.protobufjsNoSnappy.push(pbjsNoSnappy);
    runs.protobufjsGrouping.push(pbjsGrouping);
  }
  const rate = (ms: number[]) => n / (median(ms) / 1000);
  return {
    shape: shape.name,
    samples: n,
    steady: rate(runs.steady),
    firstFlush: rate(runs.firstFlush),
    protobufjs: rate(runs.protobufjs),
    protobufjsGrouping: rate(runs.protobufjsGrouping),
    steadyNoSnappy: rate(runs.steadyNoSnappy),
    protobufjsNoSnappy: rate(runs.protobufjsNoSnappy),
    steadyGroupMs: median(runs.steadyGroupMs),
    steadyWriteMs: median(runs.steadyWriteMs),
  };
}
