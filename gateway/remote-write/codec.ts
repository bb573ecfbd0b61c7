import { createRequire } from "node:module";
import protobuf from "protobufjs";
import type { Sample } from "../prom/sample.js";
import { protoFile } from "../proto-path.js";

/**
 * Prometheus Remote-Write 1.0 codec: samples → series → batches → protobuf
 * `prometheus.WriteRequest` → snappy block. Rules cite the spec
 * ("Prometheus Remote-Write Specification" v1.0, prometheus.io, April 2023).
 */

export interface PromLabel {
  name: string;
  value: string;
}
export interface PromSample {
  value: number;
  timestamp: number;
}
export interface TimeSeries {
  labels: PromLabel[];
  samples: PromSample[];
}

// Loaded once at module load; the reflected Type compiles its encoder/decoder on first use.
const WriteRequest = protobuf.loadSync(protoFile("remote.proto")).lookupType("prometheus.WriteRequest");

// snappyjs ships no type declarations; createRequire keeps this file typed without a .d.ts.
interface SnappyJs {
  compress(input: Uint8Array): Uint8Array;
  uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
const snappy = createRequire(import.meta.url)("snappyjs") as SnappyJs;

// ---------------------------------------------------------------------------
// Stale markers: defined with the rest of Prometheus's data model.

export { STALE_NAN, isStaleNaN } from "../prom/stale.js";

// ---------------------------------------------------------------------------
// Samples → series.

interface Building {
  labels: PromLabel[];
  samples: PromSample[];
  sorted: boolean;
}

function byTimestamp(a: PromSample, b: PromSample): number {
  return a.timestamp - b.timestamp;
}

/**
 * Groups samples into series. Labels are sorted by name and empty-valued labels
 * dropped (spec "Labels": sorted, no empty names or values); a sample without a
 * `__name__` (or with a non-finite timestamp) is skipped and counted in `invalid`.
 * Each series' samples are sorted by timestamp (spec "Ordering"), and of several
 * samples with one timestamp the one that came last in the input wins: a receiver
 * refuses two different values at one timestamp (Prometheus answers 400).
 */
export function toTimeSeries(samples: Sample[]): { series: TimeSeries[]; invalid: number; duplicates: number } {
  const byKey = new Map<string, Building>();
  const order: Building[] = [];
  let invalid = 0;
  for (const s of samples) {
    const labels = s.labels;
    const name = labels.__name__;
    const ts = Math.trunc(s.timestamp);
    if (name === undefined || name === "" || !Number.isFinite(ts)) {
      invalid++;
      continue;
    }
    const names = Object.keys(labels).sort();
    let key = "";
    for (const n of names) {
      const v = labels[n];
      // Length-prefixed, so no label value can forge another label set's key.
      if (v !== undefined && v !== "") key += n.length + ":" + n + v.length + ":" + v;
    }
    let b = byKey.get(key);
    if (b === undefined) {
      const pl: PromLabel[] = [];
      for (const n of names) {
        const v = labels[n];
        if (v !== undefined && v !== "") pl.push({ name: n, value: v });
      }
      b = { labels: pl, samples: [], sorted: true };
      byKey.set(key, b);
      order.push(b);
    }
    const last = b.samples[b.samples.length - 1];
    if (last !== undefined && ts < last.timestamp) b.sorted = false;
    b.samples.push({ value: s.value, timestamp: ts });
  }
  const series: TimeSeries[] = new Array<TimeSeries>(order.length);
  let duplicates = 0;
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    // Array.prototype.sort is stable (ES2019), so equal timestamps keep input order.
    if (!b.sorted) b.samples.sort(byTimestamp);
    const n = b.samples.length;
    series[i] = { labels: b.labels, samples: collapseDuplicates(b.samples) };
    duplicates += n - b.samples.length;
  }
  // The collapsed samples are counted by the caller (reason="duplicate"), so samples in = written + dropped.
  return { series, invalid, duplicates };
}

/** Keeps the last of each run of equal timestamps (input is sorted, stably). */
function collapseDuplicates(samples: PromSample[]): PromSample[] {
  let w = 0;
  for (let r = 0; r < samples.length; r++) {
    const s = samples[r]!;
    if (w > 0 && samples[w - 1]!.timestamp === s.timestamp) samples[w - 1] = s;
    else samples[w++] = s;
  }
  samples.length = w;
  return samples;
}

/**
 * Splits series into batches of at most `maxSamples` samples. A long series is
 * cut across consecutive batches, earliest samples first, so sending the
 * batches in order keeps each series in time order (spec "Ordering").
 */
export function splitBatches(series: TimeSeries[], maxSamples: number): TimeSeries[][] {
  if (!(maxSamples >= 1)) throw new RangeError(`maxSamples must be at least 1, got ${maxSamples}`);
  const batches: TimeSeries[][] = [];
  let current: TimeSeries[] = [];
  let room = maxSamples;
  for (const ts of series) {
    let from = 0;
    const n = ts.samples.length;
    while (from < n) {
      const take = Math.min(room, n - from);
      const part = from === 0 && take === n ? ts.samples : ts.samples.slice(from, from + take);
      current.push({ labels: ts.labels, samples: part });
      from += take;
      room -= take;
      if (room === 0) {
        batches.push(current);
        current = [];
        room = maxSamples;
      }
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

// ---------------------------------------------------------------------------
// Wire format.

/** Protobuf bytes of a `prometheus.WriteRequest`, not compressed. */
export function encodeWriteRequest(series: TimeSeries[]): Uint8Array {
  // Plain objects straight into encode, no fromObject() conversion pass: measured
  // ~1.5x faster on a 2,000-sample batch (0.3 ms vs 0.45 ms), same bytes.
  // int64 timestamps are plain numbers (ms < 2^53); protobufjs splits them into LongBits.
  return WriteRequest.encode({ timeseries: series }).finish();
}

interface LongLike {
  toNumber(): number;
}
interface DecodedRequest {
  timeseries?: { labels?: { name?: string; value?: string }[]; samples?: { value?: number; timestamp?: number | LongLike }[] }[];
}

/** Decodes protobuf bytes (not compressed); throws on a malformed message. */
export function decodeWriteRequest(buf: Uint8Array): TimeSeries[] {
  const msg = WriteRequest.decode(buf) as unknown as DecodedRequest;
  const out: TimeSeries[] = [];
  for (const ts of msg.timeseries ?? []) {
    const labels: PromLabel[] = [];
    for (const l of ts.labels ?? []) labels.push({ name: l.name ?? "", value: l.value ?? "" });
    const samples: PromSample[] = [];
    for (const s of ts.samples ?? []) {
      const t = s.timestamp ?? 0;
      // With the `long` package installed protobufjs decodes int64 as Long objects.
      samples.push({ value: s.value ?? 0, timestamp: typeof t === "number" ? t : t.toNumber() });
    }
    out.push({ labels, samples });
  }
  return out;
}

/** Snappy block format (spec: "the framed format MUST NOT be used"). */
export function snappyCompress(buf: Uint8Array): Uint8Array {
  return snappy.compress(buf);
}

/** Throws when the declared uncompressed length exceeds `maxLength` (before allocating it) or the stream is corrupt. */
export function snappyDecompress(buf: Uint8Array, maxLength: number): Uint8Array {
  return snappy.uncompress(buf, maxLength);
}
