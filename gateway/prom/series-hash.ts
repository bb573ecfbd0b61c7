import type { Labels } from "./sample.js";

/**
 * The order-independent hash of a label set that the cardinality limiter
 * (pipeline/active-series.ts) and the aggregation's series interner both key their
 * tables by, and a hand-over of it from the one to the other.
 *
 * Both stages see the same label objects one after the other (the limiter
 * runs right before aggregation), and each hashed every sample's labels:
 * about a third of the aggregation's time at QoS 0 (bench ingest profile).
 * The limiter now records (labels object, hash, size) for its batch, and the
 * interner takes the hash from there when it meets the SAME object. Label
 * objects are immutable in the pipeline, so an identical object has the same
 * hash however old the record; a sample a stage replaced, or a batch the
 * limiter did not see, simply misses and is hashed again.
 */

/** FNV-1a over `name \0 value`, finished with murmur3's fmix32 so that summing pair hashes stays well spread. */
export function pairHash(name: string, value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Records kept per batch (a larger batch's tail is hashed again by the interner). */
const CAPACITY = 4096;
/** How far past its cursor a lookup searches (samples the limiter dropped leave gaps). */
const LOOKAHEAD = 8;

export class SeriesHashes {
  private readonly labels: (Labels | null)[] = new Array<Labels | null>(CAPACITY).fill(null);
  private readonly hashes = new Int32Array(CAPACITY);
  private readonly sizes = new Int32Array(CAPACITY);
  private written = 0;
  private cursor = 0;
  /** Set by a successful `find`. */
  hash = 0;
  size = 0;

  /** Starts recording a new batch (the limiter). */
  begin(): void {
    this.written = 0;
    this.cursor = 0;
  }

  /** Records the hash and count of non-empty labels of `labels` (in batch order). */
  record(labels: Labels, hash: number, size: number): void {
    const i = this.written;
    if (i >= CAPACITY) return;
    this.labels[i] = labels;
    this.hashes[i] = hash;
    this.sizes[i] = size;
    this.written = i + 1;
  }

  /**
   * True (with `hash` and `size` set) when `labels` is an object recorded in
   * this batch: looked for at `index` (the sample's place in the reader's
   * batch, the same when nothing was dropped between), then in batch order
   * after the last one found.
   */
  find(labels: Labels, index: number): boolean {
    if (index < this.written && this.labels[index] === labels) {
      this.hash = this.hashes[index]!;
      this.size = this.sizes[index]!;
      this.cursor = index + 1;
      return true;
    }
    const end = Math.min(this.written, this.cursor + LOOKAHEAD);
    for (let i = this.cursor; i < end; i++) {
      if (this.labels[i] !== labels) continue;
      this.hash = this.hashes[i]!;
      this.size = this.sizes[i]!;
      this.cursor = i + 1;
      return true;
    }
    return false;
  }
}

/** The one hand-over of the process: every pipeline's limiter records into it, every interner reads it. */
export const seriesHashes = new SeriesHashes();

/**
 * The decoders' hand-over to the limiters (Core.ingest begins it per message).
 * The samples of one JSON message share every label but `__name__`, so the
 * decoder hashes the shared labels once per message and adds the metric
 * name's pair hash (kept with the interned name): one addition per sample
 * where the limiter walked every character of every label (the limiter's
 * hashing was 8 % of the gateway's CPU at QoS 0, bench ingest profile). A
 * sample a stage replaced or dropped on the way simply misses and is hashed
 * by the limiter as before; the sum is the same `labelsHash` by construction.
 */
export const decodedHashes = new SeriesHashes();

/** The order-independent hash of the non-empty label pairs (a sum of pair hashes): the key every series table here uses. */
export function labelsHash(labels: Labels): number {
  let hash = 0;
  for (const n in labels) {
    const v = labels[n]!;
    if (v !== "") hash = (hash + pairHash(n, v)) | 0;
  }
  return hash;
}
