import type { Labels, Sample } from "../prom/sample.js";
import type { PromLabel, PromSample, TimeSeries } from "./codec.js";
import { SHARD_HASH_SEED, shardHashString } from "./shard.js";
import { utf8Length, varintSize, writeLabel, writeSeriesRuns, writeUtf8, writeVarint32 } from "./write-request.js";

/**
 * The series a Remote-Write view has sent, kept across flushes: each label
 * set once, as the protobuf bytes of its `TimeSeries.labels` fields (sorted by
 * name, empty values left out, ready to copy into a request), with the order
 * guard's last committed timestamp and its shard hash (worked out when a
 * sharded target first needs it). A flush then groups
 * its samples by series id into typed arrays and writes each request by
 * copying label bytes: no label array, label object, key string or Map entry
 * per series and flush. Building those every flush (and the scavenges that
 * copied them) was most of the sink's time, ~5 µs per series of a live flush.
 *
 * A sample finds its series first by a guess (the series that followed the
 * previous sample's series last time: flushes mostly repeat their order),
 * else by the order-independent sum of its label pairs' hashes in an
 * open-addressed index; either way it is verified against the labels of
 * that series, so a hash collision never merges two series and any key order
 * of one label set finds the same series. Per series the table holds its
 * label values (shared with other series where they repeat; compared by
 * position when a label object has the key order of the series' first one,
 * which needs no keyed property lookup), its label bytes and ~70 bytes of
 * typed arrays and index.
 *
 * Bounded: past `maxSeries` the least recently flushed series are evicted at
 * the start of the next flush (down to three quarters of the bound), so a
 * series that comes back after that is new to the guard, as after a restart.
 */

const NONE = Number.NaN;
/** Slots of the value cache (a power of two). */
const VALUE_CACHE_SIZE = 8192;

/** Grows a typed array to at least `n` elements (doubling), keeping its contents. */
function grown<T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(n, a.length * 2));
  b.set(a);
  return b;
}

/**
 * Hash of one label for the index (a sum of these keys a label set in any order).
 * The value is hashed two UTF-16 units per multiply, the name only by its length
 * and end characters (few names, and the match is verified anyway), finished
 * with murmur3's fmix32 so that sums stay well spread.
 */
function labelHash(name: string, value: string): number {
  let h = Math.imul(0x811c9dc5 ^ name.length, 0x01000193);
  h = Math.imul(h ^ (name.charCodeAt(0) | (name.charCodeAt(name.length - 1) << 16)), 0x01000193);
  const n = value.length;
  let i = 0;
  for (; i + 1 < n; i += 2) h = Math.imul(h ^ (value.charCodeAt(i) | (value.charCodeAt(i + 1) << 16)), 0x01000193);
  if (i < n) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ n, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Order-guard moves of a flush not committed yet (see SeriesTable.group). */
export class OrderMoves {
  readonly ids: number[] = [];
  readonly ts: number[] = [];
  constructor(readonly generation: number) {}
}

export interface GroupResult {
  /** Samples without a metric name or with a non-finite timestamp. */
  invalid: number;
  /** Samples of one series at one timestamp within the flush (the last one in input order is kept). */
  duplicates: number;
  /** Samples at the timestamp the guard last committed for their series. */
  guardDuplicates: number;
  /** Samples older than the timestamp the guard last committed (duplicates not included). */
  outOfOrder: number;
}

export class SeriesTable {
  /** Series held (ids 0 … count-1). */
  count = 0;
  /** Bumped by every eviction (ids are renumbered): moves taken before it are void. */
  generation = 0;

  // Per series id.
  private hashes = new Int32Array(1024);
  private sizes = new Int32Array(1024);
  private recOff = new Int32Array(1024);
  private recLen = new Int32Array(1024);
  /** Its shard hash (shard.ts), once `shardKnown` is 1: worked out by the first encode with several shards. */
  private shard = new Uint32Array(1024);
  private shardKnown = new Uint8Array(1024);
  private lastTs = new Float64Array(1024).fill(NONE);
  /** Flush number that last sent the series (eviction keeps the most recent). */
  private seen = new Int32Array(1024);

  /**
   * What a lookup compares with: each series' label values (shared with other series where
   * they repeat), in the key order of the first label object met of it, one series after the
   * other in `values` from `valOff[id]`; `orders` holds the distinct key orders, `orderOf[id]` its own.
   */
  private values: string[] = [];
  private valOff = new Int32Array(1024);
  private orderOf = new Int32Array(1024);
  private orders: string[][] = [];
  /**
   * Per key order: its positions sorted by name (the order of the encoded labels), each name's
   * UTF-8 length, and each name's Label.name field encoded (position j from namePartOff[j]).
   */
  private orderSorted: Int32Array[] = [];
  private orderNameBytes: Int32Array[] = [];
  private orderNameParts: Uint8Array[] = [];
  private orderNamePartOff: Int32Array[] = [];
  private orderIndex = new Map<string, number>();
  private lastOrder = 0;
  /** Per series, 1 + the id of the series that followed it in the input last time (0 = none): tried before the index. */
  private next = new Int32Array(1024);
  private arena = new Uint8Array(1 << 16);
  private arenaUsed = 0;
  /** Open-addressed index: id + 1, 0 = empty; at most half full. */
  private slots = new Int32Array(2048);

  /** Order-guard entries of a checkpoint whose series has not been met since (canonical key → timestamp). */
  private restored = new Map<string, number>();
  /** Scratch of `intern` for `add`: each non-empty label's hash, in key order. */
  private labelHashes = new Int32Array(64);
  /**
   * Label values met by `add`, by label hash (direct-mapped, a newer value takes the slot):
   * label values repeat across series (metric names, fleets, models) and a decoder makes a
   * fresh copy of each for every sample; a series keeps the copy already held. A Map of
   * recent values did the same at ~170 ns per value of a new series (hashing the string
   * again, growing and clearing the Map), a third of the cost of a new series.
   */
  private readonly valueCache: string[] = new Array<string>(VALUE_CACHE_SIZE).fill("");
  /** The label hash of each slot's value: a different hash rules a value out without reading the held string (a cache miss). */
  private readonly valueCacheHash = new Int32Array(VALUE_CACHE_SIZE);

  // The current flush (valid until the next `group`): per series id, then per sample.
  private flushNo = 0;
  /** 1 + the id of the first series of the last flush (0 = none). */
  private head = 0;
  /** Per series id: its samples in the flush while counting, then its write cursor; 0 between flushes. */
  private cnt = new Int32Array(1024);
  private sid = new Int32Array(1024);
  private inTs = new Float64Array(1024);
  private inVal = new Float64Array(1024);
  /** Samples of the flush grouped by series (each series' run sorted by timestamp). */
  private ts = new Float64Array(1024);
  private val = new Float64Array(1024);
  /** The flush's series in first-seen order, and where each one's run starts. */
  private touched = new Int32Array(1024);
  private runStart = new Int32Array(1024);
  /** The flush's series after the guard: id and run [start, end) in `ts`/`val`. */
  private outId = new Int32Array(1024);
  private outStart = new Int32Array(1024);
  private outEnd = new Int32Array(1024);
  /** Series and samples the last `group` let through. */
  outSeries = 0;
  outSamples = 0;
  /** Invalid samples of the last `assign`. */
  private invalid = 0;

  constructor(readonly maxSeries = 1_000_000) {}

  /** Series the guard remembers (the table and checkpoint entries not met again yet). */
  get tracked(): number {
    return this.count + this.restored.size;
  }

  /** The id of the series of `labels` (a `__name__` is required by the caller), added when new. */
  intern(labels: Labels): number {
    let hash = 0;
    let size = 0;
    let lh = this.labelHashes;
    for (const n in labels) {
      const v = labels[n];
      if (v === undefined || v === "") continue;
      const h = labelHash(n, v);
      if (size === lh.length) lh = this.labelHashes = grown(lh, size + 1);
      lh[size++] = h;
      hash = (hash + h) | 0; // a sum: independent of label order
    }
    const slots = this.slots;
    const mask = slots.length - 1;
    let i = hash & mask;
    for (let s = slots[i]!; s !== 0; s = slots[i]!) {
      const id = s - 1;
      if (this.hashes[id] === hash && this.sizes[id] === size && this.sameAnyOrder(id, labels)) return id;
      i = (i + 1) & mask;
    }
    return this.add(labels, hash, size, i);
  }

  /**
   * `labels` holds the non-empty labels of series `id`, in the same key order, and no others:
   * key names compare by identity (property keys are internalised) and values by position.
   */
  private sameInOrder(id: number, labels: Labels): boolean {
    const names = this.orders[this.orderOf[id]!]!;
    const values = this.values;
    const off = this.valOff[id]!;
    const m = names.length;
    let j = 0;
    for (const k in labels) {
      const v = labels[k];
      if (v === undefined || v === "") continue;
      if (j === m || names[j] !== k || values[off + j] !== v) return false;
      j++;
    }
    return j === m;
  }

  /** `labels` holds the non-empty labels of series `id` in any order (the caller checked that their counts are equal). */
  private sameAnyOrder(id: number, labels: Labels): boolean {
    const names = this.orders[this.orderOf[id]!]!;
    const off = this.valOff[id]!;
    for (const k in labels) {
      const v = labels[k];
      if (v === undefined || v === "") continue;
      const j = names.indexOf(k);
      if (j < 0 || this.values[off + j] !== v) return false;
    }
    return true;
  }

  /** The labels of series `id` as an object (names in its key order). */
  labelsOf(id: number): Labels {
    const names = this.orders[this.orderOf[id]!]!;
    const off = this.valOff[id]!;
    const out: Labels = {};
    for (let j = 0; j < names.length; j++) out[names[j]!] = this.values[off + j]!;
    return out;
  }

  /** The id of the key order `names` (added when new, with its sorted positions and name lengths). */
  private orderId(names: string[]): number {
    // Most series of a table share one key order: try the last one used first.
    const last = this.orders[this.lastOrder];
    if (last !== undefined && last.length === names.length) {
      let j = 0;
      while (j < names.length && last[j] === names[j]) j++;
      if (j === names.length) return this.lastOrder;
    }
    const key = JSON.stringify(names);
    let oi = this.orderIndex.get(key);
    if (oi === undefined) {
      oi = this.orders.length;
      this.orders.push(names);
      const sorted = Int32Array.from(names.keys()).sort((a, b) => (names[a]! < names[b]! ? -1 : 1)); // names are distinct
      this.orderSorted.push(sorted);
      const nameBytes = Int32Array.from(names, utf8Length);
      this.orderNameBytes.push(nameBytes);
      const partOff = new Int32Array(names.length + 1);
      for (let j = 0; j < names.length; j++) partOff[j + 1] = partOff[j]! + 1 + varintSize(nameBytes[j]!) + nameBytes[j]!;
      const parts = new Uint8Array(partOff[names.length]!);
      for (let j = 0; j < names.length; j++) {
        parts[partOff[j]!] = 0x0a; // Label.name = 1
        writeUtf8(parts, writeVarint32(parts, partOff[j]! + 1, nameBytes[j]!), names[j]!, nameBytes[j]!);
      }
      this.orderNameParts.push(parts);
      this.orderNamePartOff.push(partOff);
      this.orderIndex.set(key, oi);
    }
    this.lastOrder = oi;
    return oi;
  }

  /**
   * Adds the series of `labels` (`size` non-empty labels, whose hashes `intern` left in
   * `labelHashes`) at index slot `slot`. No allocation but the series' share of the table's
   * arrays (and a names array for a key order not met before).
   */
  private add(labels: Labels, hash: number, size: number, slot: number): number {
    const id = this.count++;
    if (id >= this.hashes.length) this.growIds(id + 1);
    const values = this.values;
    const off = values.length;
    this.valOff[id] = off;
    // The values in key order (an equal value already held is kept instead), checking the key order against the last one.
    const last = this.orders[this.lastOrder];
    let sameOrder = last !== undefined && last.length === size;
    const lh = this.labelHashes;
    const cache = this.valueCache;
    const cacheHash = this.valueCacheHash;
    let j = 0;
    let chars = 0;
    for (const n in labels) {
      const v = labels[n];
      if (v === undefined || v === "") continue;
      if (sameOrder && last![j] !== n) sameOrder = false;
      const h = lh[j]!;
      const c = h & (VALUE_CACHE_SIZE - 1);
      const known = cache[c]!;
      if (cacheHash[c] === h && known === v) values.push(known);
      else {
        cache[c] = v;
        cacheHash[c] = h;
        values.push(v);
      }
      chars += v.length;
      j++;
    }
    let oi = this.lastOrder;
    if (!sameOrder) {
      const names: string[] = [];
      for (const n in labels) {
        const v = labels[n];
        if (v !== undefined && v !== "") names.push(n);
      }
      oi = this.orderId(names);
    }
    this.orderOf[id] = oi;
    // Its TimeSeries.labels fields, sorted by name, into the arena: each value written in one pass as
    // ASCII (its length is its UTF-8 length), written again as UTF-8 if a character was not.
    const sorted = this.orderSorted[oi]!;
    const parts = this.orderNameParts[oi]!;
    const partOff = this.orderNamePartOff[oi]!;
    const bound = parts.length + 12 * size + 3 * chars; // tags, lengths, UTF-8 at most 3 bytes per UTF-16 unit
    if (this.arena.length < this.arenaUsed + bound) {
      const bigger = new Uint8Array(Math.max(this.arenaUsed + bound, Math.ceil(this.arena.length * 1.5)));
      bigger.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = bigger;
    }
    const a = this.arena;
    let p = this.arenaUsed;
    for (let k = 0; k < size; k++) {
      const jj = sorted[k]!;
      const v = values[off + jj]!;
      const from = partOff[jj]!;
      const to = partOff[jj + 1]!;
      const n = v.length;
      const start = p;
      a[p++] = 0x0a; // TimeSeries.labels = 1
      p = writeVarint32(a, p, to - from + 1 + varintSize(n) + n);
      for (let b = from; b < to; b++) a[p++] = parts[b]!;
      a[p++] = 0x12; // Label.value = 2
      p = writeVarint32(a, p, n);
      let any = 0;
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i);
        any |= c;
        a[p + i] = c;
      }
      p += n;
      if (any >= 0x80) p = writeLabel(a, start, this.orders[oi]![jj]!, v, this.orderNameBytes[oi]![jj]!, utf8Length(v));
    }
    const len = p - this.arenaUsed;
    this.recOff[id] = this.arenaUsed;
    this.recLen[id] = len;
    this.next[id] = 0;
    this.arenaUsed = p;
    this.hashes[id] = hash;
    this.sizes[id] = size;
    this.shardKnown[id] = 0;
    this.seen[id] = this.flushNo;
    let lastTs = NONE;
    if (this.restored.size > 0) {
      const key = canonicalKey(labels);
      const t = this.restored.get(key);
      if (t !== undefined) {
        lastTs = t;
        this.restored.delete(key);
      }
    }
    this.lastTs[id] = lastTs;
    this.slots[slot] = id + 1;
    if (this.count * 2 > this.slots.length) this.reindex(this.slots.length * 2);
    return id;
  }

  private growIds(n: number): void {
    this.hashes = grown(this.hashes, n);
    this.sizes = grown(this.sizes, n);
    this.recOff = grown(this.recOff, n);
    this.recLen = grown(this.recLen, n);
    this.shard = grown(this.shard, n);
    this.shardKnown = grown(this.shardKnown, n);
    const had = this.lastTs.length;
    this.lastTs = grown(this.lastTs, n);
    this.lastTs.fill(NONE, had);
    this.seen = grown(this.seen, n);
    this.next = grown(this.next, n);
    this.valOff = grown(this.valOff, n);
    this.orderOf = grown(this.orderOf, n);
    this.cnt = grown(this.cnt, n);
  }

  private reindex(capacity: number): void {
    const slots = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let id = 0; id < this.count; id++) {
      let i = this.hashes[id]! & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = id + 1;
    }
    this.slots = slots;
  }

  /**
   * Keeps the `keep` most recently flushed series (all of the newest flush
   * that reaches it), renumbered in their order, and rebuilds the arena and
   * the index. Ids and moves from before are void (`generation`).
   */
  evict(keep: number): void {
    const n = this.count;
    if (n <= keep) return;
    let cutoff = -Infinity;
    if (keep > 0) {
      const seen = this.seen.slice(0, n).sort();
      cutoff = seen[n - keep]!;
    } else cutoff = Infinity;
    const arena = new Uint8Array(Math.max(1 << 16, this.arenaUsed));
    const values: string[] = [];
    const orders = this.orders;
    this.orders = [];
    this.orderSorted = [];
    this.orderNameBytes = [];
    this.orderNameParts = [];
    this.orderNamePartOff = [];
    this.orderIndex.clear();
    this.lastOrder = 0;
    let used = 0;
    let w = 0;
    for (let id = 0; id < n; id++) {
      if (!(this.seen[id]! >= cutoff)) continue;
      const off = this.recOff[id]!;
      const len = this.recLen[id]!;
      arena.set(this.arena.subarray(off, off + len), used);
      this.recOff[w] = used;
      this.recLen[w] = len;
      used += len;
      this.hashes[w] = this.hashes[id]!;
      this.sizes[w] = this.sizes[id]!;
      this.shard[w] = this.shard[id]!;
      this.shardKnown[w] = this.shardKnown[id]!;
      this.lastTs[w] = this.lastTs[id]!;
      this.seen[w] = this.seen[id]!;
      const names = orders[this.orderOf[id]!]!;
      const from = this.valOff[id]!;
      this.valOff[w] = values.length;
      for (let j = 0; j < names.length; j++) values.push(this.values[from + j]!);
      this.orderOf[w] = this.orderId(names);
      w++;
    }
    this.values = values;
    this.next.fill(0);
    this.cnt.fill(0);
    this.head = 0;
    this.lastTs.fill(NONE, w, n);
    this.arena = arena;
    this.arenaUsed = used;
    this.count = w;
    this.generation++;
    let cap = 2048;
    while (cap < 2 * w) cap *= 2;
    this.reindex(cap);
  }

  /**
   * Groups `samples` by series into the table, each series' samples sorted
   * by timestamp (stable; of several at one timestamp the last in input
   * order is kept), then applies the order guard: a series' samples at or
   * before its last committed timestamp are dropped. The guard moves on at
   * once, or, with `moves`, only when `commit(moves)` is called. The result
   * (series ids in first-seen order, their samples) stays readable through
   * `encode`/`timeSeries` until the next call.
   */
  group(samples: readonly Sample[], moves?: OrderMoves): GroupResult {
    if (this.count + this.restored.size > this.maxSeries) {
      this.restored.clear(); // checkpoint entries not met since the restart go first
      if (this.count > this.maxSeries) this.evict(Math.floor(this.maxSeries * 0.75));
    }
    const n = samples.length;
    if (this.sid.length < n) {
      this.sid = new Int32Array(Math.max(n, this.sid.length * 2));
      this.inTs = new Float64Array(this.sid.length);
      this.inVal = new Float64Array(this.sid.length);
      this.ts = new Float64Array(this.sid.length);
      this.val = new Float64Array(this.sid.length);
    }
    const touchedN = this.assign(samples);
    return this.runs(n, touchedN, moves);
  }

  /** `group`'s first pass: each sample's series id (-1: invalid, counted in `invalid`), and the flush's series in first-seen order. */
  private assign(samples: readonly Sample[]): number {
    const n = samples.length;
    const flushNo = ++this.flushNo;
    const { sid, inTs, inVal } = this;
    let cnt = this.cnt;
    let invalid = 0;
    let touchedN = 0;
    let lastLabels: Labels | undefined;
    let lastId = -1;
    for (let i = 0; i < n; i++) {
      const s = samples[i]!;
      const labels = s.labels;
      const ts = Math.trunc(s.timestamp);
      let id: number;
      if (labels === lastLabels) id = lastId;
      else {
        // Flushes mostly repeat the order of the one before (a window's groups, a fleet's devices): try the
        // series that followed the previous one last time before hashing. (A series in the table has a name.)
        const guess = (lastId >= 0 ? this.next[lastId]! : this.head) - 1;
        if (guess >= 0 && this.sameInOrder(guess, labels)) id = guess;
        else {
          const name = labels.__name__;
          if (name === undefined || name === "") {
            invalid++;
            sid[i] = -1;
            continue;
          }
          id = this.intern(labels);
        }
        if (lastId >= 0) this.next[lastId] = id + 1;
        else this.head = id + 1;
        lastLabels = labels;
        lastId = id;
      }
      if (!Number.isFinite(ts)) {
        invalid++;
        sid[i] = -1;
        continue;
      }
      cnt = this.cnt; // interning may have grown it
      if (cnt[id] === 0) {
        this.seen[id] = flushNo;
        if (touchedN >= this.touched.length) this.touched = grown(this.touched, touchedN + 1);
        this.touched[touchedN++] = id;
      }
      cnt[id]!++;
      sid[i] = id;
      inTs[i] = ts;
      inVal[i] = s.value;
    }
    this.invalid = invalid;
    return touchedN;
  }

  /** `group`'s second pass: samples scattered into per-series runs, each sorted and collapsed, then the guard. */
  private runs(n: number, touchedN: number, moves: OrderMoves | undefined): GroupResult {
    const { sid, inTs, inVal } = this;
    const cnt = this.cnt;
    // Runs per series, in first-seen order; cnt becomes each run's write cursor.
    if (this.runStart.length < touchedN) this.runStart = new Int32Array(this.touched.length);
    const { touched, runStart } = this;
    let pos = 0;
    for (let k = 0; k < touchedN; k++) {
      const id = touched[k]!;
      runStart[k] = pos;
      pos += cnt[id]!;
      cnt[id] = runStart[k]!;
    }
    const { ts, val } = this;
    for (let i = 0; i < n; i++) {
      const id = sid[i]!;
      if (id < 0) continue;
      const p = cnt[id]!++;
      ts[p] = inTs[i]!;
      val[p] = inVal[i]!;
    }
    if (this.outId.length < touchedN) {
      this.outId = new Int32Array(Math.max(touchedN, this.outId.length * 2));
      this.outStart = new Int32Array(this.outId.length);
      this.outEnd = new Int32Array(this.outId.length);
    }
    let duplicates = 0;
    let guardDuplicates = 0;
    let outOfOrder = 0;
    let outN = 0;
    let outSamples = 0;
    for (let k = 0; k < touchedN; k++) {
      const id = touched[k]!;
      const start = runStart[k]!;
      const end0 = cnt[id]!;
      cnt[id] = 0;
      // Mostly in order and without repeats: then the run stays as it is.
      let unsorted = false;
      let repeats = false;
      for (let r = start + 1; r < end0; r++) {
        const d = ts[r]! - ts[r - 1]!;
        if (d < 0) unsorted = true;
        else if (d === 0) repeats = true;
      }
      if (unsorted) {
        this.sortRun(start, end0);
        repeats = true; // unknown after sorting
      }
      let w = end0;
      if (repeats) {
        // Collapse runs of one timestamp to their last sample.
        w = start;
        for (let r = start; r < end0; r++) {
          if (w > start && ts[w - 1] === ts[r]) {
            val[w - 1] = val[r]!;
            duplicates++;
          } else {
            ts[w] = ts[r]!;
            val[w] = val[r]!;
            w++;
          }
        }
      }
      const end = w;
      // The guard: drop what is not after the last committed timestamp.
      let from = start;
      const last = this.lastTs[id]!;
      if (last === last) {
        while (from < end && ts[from]! <= last) {
          if (ts[from] === last) guardDuplicates++;
          else outOfOrder++;
          from++;
        }
      }
      if (from === end) continue;
      const newest = ts[end - 1]!;
      if (moves) {
        moves.ids.push(id);
        moves.ts.push(newest);
      } else this.lastTs[id] = newest;
      this.outId[outN] = id;
      this.outStart[outN] = from;
      this.outEnd[outN] = end;
      outN++;
      outSamples += end - from;
    }
    this.outSeries = outN;
    this.outSamples = outSamples;
    return { invalid: this.invalid, duplicates, guardDuplicates, outOfOrder };
  }

  /**
   * Stable sort of the run [start, end) by timestamp (rare: samples of a series arrive in order).
   * Through typed arrays only: a JavaScript array of doubles would quiet a signalling NaN's bits,
   * and the stale marker is one.
   */
  private sortRun(start: number, end: number): void {
    const n = end - start;
    const idx = new Int32Array(n);
    for (let k = 0; k < n; k++) idx[k] = start + k;
    const { ts, val } = this;
    idx.sort((a, b) => ts[a]! - ts[b]! || a - b);
    const t = new Float64Array(n);
    const v = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      t[k] = ts[idx[k]!]!;
      v[k] = val[idx[k]!]!;
    }
    ts.set(t, start);
    val.set(v, start);
  }

  /** Applies the moves of a `group(…, moves)` whose rows were committed. */
  commit(moves: OrderMoves): void {
    if (moves.generation !== this.generation) return; // evicted since: those ids name other series now
    const { ids, ts } = moves;
    for (let k = 0; k < ids.length; k++) this.lastTs[ids[k]!] = ts[k]!;
  }

  /** Journal replay: the guard learns the newest timestamp of each series of `samples`, nothing is sent. */
  remember(samples: readonly Sample[]): void {
    this.group(samples, new OrderMoves(this.generation));
    for (let k = 0; k < this.outSeries; k++) {
      const id = this.outId[k]!;
      const newest = this.ts[this.outEnd[k]! - 1]!;
      const prev = this.lastTs[id]!;
      if (!(prev >= newest)) this.lastTs[id] = newest;
    }
    this.outSeries = 0;
    this.outSamples = 0;
  }

  /** The last `group`'s series as TimeSeries (labels sorted by name). */
  timeSeries(): TimeSeries[] {
    const out: TimeSeries[] = [];
    for (let k = 0; k < this.outSeries; k++) {
      const id = this.outId[k]!;
      const labels = this.labelsOf(id);
      const pl: PromLabel[] = [];
      for (const n of Object.keys(labels).sort()) {
        const v = labels[n];
        if (v !== undefined && v !== "") pl.push({ name: n, value: v });
      }
      const samples: PromSample[] = [];
      for (let p = this.outStart[k]!; p < this.outEnd[k]!; p++) samples.push({ value: this.val[p]!, timestamp: this.ts[p]! });
      out.push({ labels: pl, samples });
    }
    return out;
  }

  /**
   * The last `group`'s series as WriteRequest bodies (protobuf, not compressed):
   * per shard (shardOf of the labels, mod `shards`), batches of at most
   * `maxSamples` samples; a long series is cut across consecutive batches,
   * earliest samples first. Each body goes through `finish` (e.g. snappy).
   */
  encode<T>(maxSamples: number, shards: number, finish: (body: Uint8Array, samples: number) => T): T[][] {
    if (!(maxSamples >= 1)) throw new RangeError(`maxSamples must be at least 1, got ${maxSamples}`);
    const nShards = Math.max(1, shards);
    const out: T[][] = [];
    for (let s = 0; s < nShards; s++) out.push([]);
    const outN = this.outSeries;
    if (nShards > 1) {
      for (let k = 0; k < outN; k++) {
        const id = this.outId[k]!;
        if (this.shardKnown[id] === 0) {
          this.shard[id] = this.shardHashOf(id);
          this.shardKnown[id] = 1;
        }
      }
    }
    // Pieces of the current batch: index into out*, and the sample run.
    let pieces = new Int32Array(3 * 64);
    for (let shard = 0; shard < nShards; shard++) {
      let np = 0;
      let room = maxSamples;
      for (let k = 0; k < outN; k++) {
        if (nShards > 1 && this.shard[this.outId[k]!]! % nShards !== shard) continue;
        let from = this.outStart[k]!;
        const end = this.outEnd[k]!;
        while (from < end) {
          const take = Math.min(room, end - from);
          if (3 * np + 3 > pieces.length) pieces = grown(pieces, 3 * np + 3);
          pieces[3 * np] = k;
          pieces[3 * np + 1] = from;
          pieces[3 * np + 2] = from + take;
          np++;
          from += take;
          room -= take;
          if (room === 0) {
            out[shard]!.push(finish(this.write(pieces, np), maxSamples));
            np = 0;
            room = maxSamples;
          }
        }
      }
      if (np > 0) out[shard]!.push(finish(this.write(pieces, np), maxSamples - room));
    }
    return out;
  }

  /**
   * shardHash of series `id`'s labels (sorted by name), from the strings the table holds: only
   * sharded targets need it, so a series pays for it at its first encode with several shards.
   */
  private shardHashOf(id: number): number {
    const oi = this.orderOf[id]!;
    const names = this.orders[oi]!;
    const sorted = this.orderSorted[oi]!;
    const off = this.valOff[id]!;
    let h = SHARD_HASH_SEED;
    for (let k = 0; k < sorted.length; k++) {
      const j = sorted[k]!;
      h = shardHashString(shardHashString(h, names[j]!), this.values[off + j]!);
    }
    return h >>> 0;
  }

  /** One WriteRequest of `np` pieces (out index, sample run). */
  private write(pieces: Int32Array, np: number): Uint8Array {
    return writeSeriesRuns(this.outId, this.recOff, this.recLen, this.arena, this.ts, this.val, pieces, np);
  }

  /** The order guard as checkpoint entries: canonical key (`name \0 value \0 …`, sorted) → last committed timestamp. */
  orderState(moves?: OrderMoves): [string, number][] {
    const last = this.lastTs.slice(0, this.count);
    if (moves !== undefined && moves.generation === this.generation) for (let k = 0; k < moves.ids.length; k++) last[moves.ids[k]!] = moves.ts[k]!;
    const out: [string, number][] = [];
    for (let id = 0; id < this.count; id++) if (last[id] === last[id]) out.push([canonicalKey(this.labelsOf(id)), last[id]!]);
    for (const e of this.restored) out.push(e);
    return out;
  }

  /** Forgets the guard and loads checkpoint entries; each is matched when its series is next met. */
  restoreOrderState(state: readonly [string, number][]): void {
    this.lastTs.fill(NONE);
    this.restored = new Map(state);
    // Series already in the table take their entry now.
    for (let id = 0; id < this.count; id++) {
      const key = canonicalKey(this.labelsOf(id));
      const t = this.restored.get(key);
      if (t === undefined) continue;
      this.lastTs[id] = t;
      this.restored.delete(key);
    }
  }

}


/** The order guard's checkpoint key of a series: `name \0 value \0 …`, sorted by name, empty values left out. */
export function canonicalKey(labels: Labels): string {
  let key = "";
  for (const n of Object.keys(labels).sort()) {
    const v = labels[n];
    if (v !== undefined && v !== "") key += n + "\u0000" + v + "\u0000";
  }
  return key;
}
