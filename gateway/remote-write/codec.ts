import { createRequire } from "node:module";
import type * as protobuf from "protobufjs";
import type { Labels, Sample } from "../prom/sample.js";
import { protoFile } from "../proto-path.js";
import { writeWriteRequest } from "./write-request.js";

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

// Loaded on first use, for decoding only (the receiver, splitting a refused batch); encoding is
// write-request.ts. A gateway that never splits a batch keeps protobufjs (~0.4 MB of source with
// `long`, required synchronously here) and the schema out of its idle memory.
let writeRequestType: protobuf.Type | undefined;
function writeRequestSchema(): protobuf.Type {
  return (writeRequestType ??= (requireCjs("protobufjs") as typeof protobuf).loadSync(protoFile("remote.proto")).lookupType("prometheus.WriteRequest"));
}

// snappyjs ships no type declarations; createRequire keeps this file typed without a .d.ts.
interface SnappyJs {
  compress(input: Uint8Array): Uint8Array;
  uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
}
const requireCjs = createRequire(import.meta.url);
const snappy = requireCjs("snappyjs") as SnappyJs;

/**
 * The `snappy` package (Rust's snap crate through N-API, prebuilt per platform)
 * compresses a Remote-Write batch ~4× faster than snappyjs; the block format is
 * the same. Where no prebuilt binary exists for the platform it does not load,
 * and snappyjs compresses instead. The sender's merging of backlog rows
 * decompresses natively too (snappyDecompressFast); the debugging receiver and
 * the splitting of a refused batch stay on snappyjs (snappyDecompress). Both
 * check the declared length against a bound before allocating.
 */
interface NativeSnappy {
  compressSync(input: Uint8Array, opts?: { copyOutputData?: boolean }): Uint8Array;
  uncompressSync(input: Uint8Array, opts: { asBuffer: true }): Buffer;
}
// Loaded with the first batch compressed or backlog row merged (~8 MB of resident memory an idle gateway does not need).
let nativeSnappy: NativeSnappy | null | undefined;
function native(): NativeSnappy | null {
  if (nativeSnappy === undefined) {
    try {
      nativeSnappy = requireCjs("snappy") as NativeSnappy;
    } catch {
      nativeSnappy = null;
    }
  }
  return nativeSnappy;
}

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

/** Canonical key of a label set (sorted by name, empty values left out), length-prefixed so no value can forge another set's key. */
function canonicalKey(labels: Labels, names: string[]): string {
  let key = "";
  for (const n of names) {
    const v = labels[n];
    if (v !== undefined && v !== "") key += n.length + ":" + n + v.length + ":" + v;
  }
  return key;
}

/**
 * One step of the grouping trie: a label (name, then value) taken in the order
 * of the sample's label object. The first (name, value) seen is kept in
 * fields, so a path below the label that tells series apart costs no Map.
 */
class TrieNode {
  name: string | undefined = undefined;
  value: string | undefined = undefined;
  child: TrieNode | undefined = undefined;
  /** Other values of `name`. */
  values: Map<string, TrieNode> | undefined = undefined;
  /** Other names (label objects of another shape). */
  others: Map<string, Map<string, TrieNode>> | undefined = undefined;
  building: Building | undefined = undefined;

  next(name: string, value: string): TrieNode {
    if (name === this.name) {
      if (value === this.value) return this.child!;
      this.values ??= new Map();
      return step(this.values, value);
    }
    if (this.name === undefined) {
      this.name = name;
      this.value = value;
      return (this.child = new TrieNode());
    }
    this.others ??= new Map();
    let values = this.others.get(name);
    if (values === undefined) this.others.set(name, (values = new Map()));
    return step(values, value);
  }
}

function step(values: Map<string, TrieNode>, value: string): TrieNode {
  let node = values.get(value);
  if (node === undefined) values.set(value, (node = new TrieNode()));
  return node;
}

/** New series a call may meet through the trie before it checks whether the trie pays (see toTimeSeries). */
const TRIE_MAX_MISSES = 1024;

/**
 * Groups samples into series. Labels are sorted by name and empty-valued labels
 * dropped (spec "Labels": sorted, no empty names or values); a sample without a
 * `__name__` (or with a non-finite timestamp) is skipped and counted in `invalid`.
 * Each series' samples are sorted by timestamp (spec "Ordering"), and of several
 * samples with one timestamp the one that came last in the input wins: a receiver
 * refuses two different values at one timestamp (Prometheus answers 400).
 *
 * A sample finds its series by walking a trie of its labels in the label
 * object's own order: no sort, no key string to build and hash per sample
 * (that was most of the cost), and no separator a value could forge. Only a
 * path not seen before in this call sorts its labels into the canonical key,
 * which maps every order of one label set to one series. When most samples
 * start a new series (a live flush holds one sample per series), the trie's
 * nodes cost more than they save: past TRIE_MAX_MISSES new series, if they
 * are more than half of the samples so far, the rest of the call keys each
 * sample by the canonical key alone.
 */
export function toTimeSeries(samples: readonly Sample[]): { series: TimeSeries[]; invalid: number; duplicates: number } {
  const root = new TrieNode();
  const byCanonical = new Map<string, Building>();
  const order: Building[] = [];
  let invalid = 0;
  let lastLabels: Labels | undefined;
  let lastBuilding: Building | undefined;
  let useTrie = true;
  let misses = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    const labels = s.labels;
    const ts = Math.trunc(s.timestamp);
    let b: Building | undefined;
    if (labels === lastLabels) {
      b = lastBuilding;
      if (!Number.isFinite(ts)) b = undefined;
    } else {
      const name = labels.__name__;
      if (name === undefined || name === "" || !Number.isFinite(ts)) {
        invalid++;
        continue;
      }
      let node: TrieNode | undefined;
      if (useTrie) {
        node = root;
        for (const n in labels) {
          const v = labels[n];
          if (v === undefined || v === "") continue;
          node = node.next(n, v);
        }
        b = node.building;
      }
      if (b === undefined) {
        const names = Object.keys(labels).sort();
        const canonical = canonicalKey(labels, names);
        b = byCanonical.get(canonical);
        if (b === undefined) {
          const pl: PromLabel[] = [];
          for (const n of names) {
            const v = labels[n];
            if (v !== undefined && v !== "") pl.push({ name: n, value: v });
          }
          b = { labels: pl, samples: [], sorted: true };
          byCanonical.set(canonical, b);
          order.push(b);
        }
        if (node !== undefined) node.building = b;
        // Mostly new series (a live flush: one sample per series): trie nodes cost more than they
        // save, so the rest of the call keys every sample by its canonical key alone.
        if (useTrie && ++misses > TRIE_MAX_MISSES && misses * 2 > i) useTrie = false;
      }
      lastLabels = labels;
      lastBuilding = b;
    }
    if (b === undefined) {
      invalid++;
      continue;
    }
    const bs = b.samples;
    if (bs.length > 0 && ts < bs[bs.length - 1]!.timestamp) b.sorted = false;
    // A sample whose timestamp is already an integer is its own PromSample: no copy per sample.
    bs.push(ts === s.timestamp ? s : { value: s.value, timestamp: ts });
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

/** Protobuf bytes of a `prometheus.WriteRequest`, not compressed (write-request.ts). */
export function encodeWriteRequest(series: readonly TimeSeries[]): Uint8Array {
  return writeWriteRequest(series);
}

interface LongLike {
  toNumber(): number;
}
interface DecodedRequest {
  timeseries?: { labels?: { name?: string; value?: string }[]; samples?: { value?: number; timestamp?: number | LongLike }[] }[];
}

/** Decodes protobuf bytes (not compressed); throws on a malformed message. */
export function decodeWriteRequest(buf: Uint8Array): TimeSeries[] {
  const msg = writeRequestSchema().decode(buf) as unknown as DecodedRequest;
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

const COPY_OUTPUT = { copyOutputData: true };

/** Snappy block format (spec: "the framed format MUST NOT be used"). */
export function snappyCompress(buf: Uint8Array): Uint8Array {
  const n = native();
  // copyOutputData: the result in a buffer of V8's own instead of an external one with a finalizer;
  // the same bytes, ~25 % less CPU per 200 KB batch (the finalizers and the external-memory GCs they drive).
  return n !== null ? n.compressSync(buf, COPY_OUTPUT) : snappy.compress(buf);
}

/** Throws when the declared uncompressed length exceeds `maxLength` (before allocating it) or the stream is corrupt. */
export function snappyDecompress(buf: Uint8Array, maxLength: number): Uint8Array {
  return snappy.uncompress(buf, maxLength);
}

/**
 * `snappyDecompress` by the native library when it is installed (the sender
 * decompresses every backlog row it merges; the JavaScript one is several
 * times slower and allocates more). The length in the block's preamble is
 * checked against `maxLength` first, as the JavaScript one does.
 */
export function snappyDecompressFast(buf: Uint8Array, maxLength: number): Uint8Array {
  const n = native();
  if (n === null) return snappy.uncompress(buf, maxLength);
  let length = 0;
  let mul = 1;
  for (let i = 0; ; i++) {
    if (i >= buf.length || i >= 5) throw new Error("snappy: invalid preamble");
    length += (buf[i]! & 0x7f) * mul;
    if (buf[i]! < 0x80) break;
    mul *= 128;
  }
  if (length > maxLength) throw new Error(`snappy: uncompressed length ${length} exceeds the limit of ${maxLength}`);
  return n.uncompressSync(buf, { asBuffer: true });
}
