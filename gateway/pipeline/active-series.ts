import type { Labels } from "../prom/sample.js";
import { pairHash } from "../prom/series-hash.js";

/**
 * The set of active series of a cardinality limiter, in least-recently-seen
 * order, keyed by the label set itself.
 *
 * The limiter used to key a Map by a string built from every sample's labels
 * (names and values concatenated): one fresh ~100-character string per sample,
 * hashed by the Map, measured a fifth of the whole decode+limit+aggregate
 * pipeline's time (the default limits.max_series puts it on every sample).
 * Here a series is found by an order-independent numeric hash of its label
 * pairs and verified by comparing labels, so a known series costs no
 * allocation. Label objects are immutable in the pipeline, so the first-seen
 * object of a series can stand for it. An empty label value is the same as
 * an absent label (Prometheus data model), and label order does not matter:
 * one series is counted once however a stage ordered its labels.
 *
 * Recency is a doubly linked list (oldest first), so refreshing a series and
 * expiring the idle ones are O(1) per series; hash collisions chain.
 */
class Entry {
  /** Next entry with the same hash. */
  chain: Entry | null = null;
  older: Entry | null = null;
  newer: Entry | null = null;
  constructor(
    readonly hash: number,
    readonly labels: Labels,
    readonly size: number,
    public seen: number,
  ) {}
}

/** `b` has the same non-empty labels as `a`, given that both have the same number of them. */
function sameLabels(a: Labels, b: Labels): boolean {
  for (const n in b) {
    const v = b[n]!;
    if (v !== "" && a[n] !== v) return false;
  }
  return true;
}

export class ActiveSeries {
  private readonly byHash = new Map<number, Entry>();
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  private count = 0;
  /** Hash and count of non-empty labels of the labels `touch` last saw. */
  lastHash = 0;
  lastSize = 0;
  /** Length of the longest label value `touch` last saw (the limiter's max_label_value_length needs no second walk). */
  lastLongestValue = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Marks the series of `labels` seen at `nowMs` and returns true when it is
   * known; returns false (and records nothing) when it is new. A known
   * series' time and place in the recency order are refreshed at most once
   * per `refreshMs` (expiry is then off by less than that).
   */
  touch(labels: Labels, nowMs: number, refreshMs: number): boolean {
    let hash = 0;
    let size = 0;
    let longest = 0;
    for (const n in labels) {
      const v = labels[n]!;
      if (v.length > longest) longest = v.length;
      if (v === "") continue;
      hash = (hash + pairHash(n, v)) | 0; // a sum: independent of label order
      size++;
    }
    this.lastLongestValue = longest;
    return this.touchHashed(labels, hash, size, nowMs, refreshMs);
  }

  /**
   * `touch` for labels whose hash and count of non-empty labels are known
   * (the decoder's hand-over, prom/series-hash.ts). Leaves lastLongestValue
   * as it was: a caller that needs it for a new series measures it.
   */
  touchHashed(labels: Labels, hash: number, size: number, nowMs: number, refreshMs: number): boolean {
    this.lastHash = hash;
    this.lastSize = size;
    for (let e = this.byHash.get(hash) ?? null; e !== null; e = e.chain) {
      if (e.size !== size || !sameLabels(e.labels, labels)) continue;
      if (nowMs - e.seen >= refreshMs) {
        e.seen = nowMs;
        this.unlink(e);
        this.append(e);
      }
      return true;
    }
    return false;
  }

  /** Adds the series `touch` just reported as new (call right after it, with the same labels). */
  add(labels: Labels, nowMs: number): void {
    const e = new Entry(this.lastHash, labels, this.lastSize, nowMs);
    e.chain = this.byHash.get(e.hash) ?? null;
    this.byHash.set(e.hash, e);
    this.append(e);
    this.count++;
  }

  /** Forgets the series last seen at or before `cutoffMs`. */
  expire(cutoffMs: number): void {
    while (this.oldest !== null && this.oldest.seen <= cutoffMs) this.remove(this.oldest);
  }


  private remove(e: Entry): void {
    this.unlink(e);
    let prev: Entry | null = null;
    for (let cur = this.byHash.get(e.hash) ?? null; cur !== null; prev = cur, cur = cur.chain) {
      if (cur !== e) continue;
      if (prev !== null) prev.chain = cur.chain;
      else if (cur.chain !== null) this.byHash.set(e.hash, cur.chain);
      else this.byHash.delete(e.hash);
      break;
    }
    this.count--;
  }

  private append(e: Entry): void {
    e.older = this.newest;
    e.newer = null;
    if (this.newest !== null) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }

  private unlink(e: Entry): void {
    if (e.older !== null) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer !== null) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = e.newer = null;
  }
}
