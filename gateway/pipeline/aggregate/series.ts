import type { Labels } from "../../prom/sample.js";

/**
 * Interning of input series for the aggregation hot path.
 *
 * Building a canonical key string per sample (sort the names, concatenate,
 * then hash the new string in a Map) measured ~1 µs per sample on the dev box
 * (2 vCPU, Node 20): most of it flattening and hashing the fresh string. An
 * order-independent numeric hash of the label pairs, verified by comparing
 * labels, measured ~0.2 µs and allocates nothing for a known series. Each
 * interned series then caches its per-rule group key, so group lookups use a
 * string whose hash is already computed.
 *
 * Memory stays bounded: a series is held only while an open window holds it
 * (reference count), and released when the last such window is flushed.
 * An empty label value is the same as an absent label (Prometheus data model).
 */
export class SeriesRef {
  /** Open windows (of any rule) that hold this series. */
  windows = 0;
  /** Next series with the same hash (collision chain). */
  next: SeriesRef | null = null;
  /** Per rule index: this series' group key in that rule, computed on first use. */
  readonly groupKeys: Array<string | undefined> = [];
  private canonical: string | null = null;
  private dedup = -1;

  constructor(
    readonly hash: number,
    /** The first-seen label object of the series (label objects are immutable in the pipeline). */
    readonly labels: Labels,
    /** Number of non-empty labels. */
    readonly size: number,
  ) {}

  /**
   * A 52-bit hash of `key`, stable across runs: identifies the series in a
   * window's duplicate check, also after a checkpoint restore, without
   * writing every input series' labels into the checkpoint.
   */
  get dedupId(): number {
    if (this.dedup < 0) {
      const k = this.key;
      let a = 0x811c9dc5;
      let b = 0x9747b28c;
      for (let i = 0; i < k.length; i++) {
        const c = k.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x5bd1e995);
        b ^= b >>> 15;
      }
      this.dedup = (a >>> 0) * 0x100000 + ((b >>> 0) & 0xfffff);
    }
    return this.dedup;
  }

  /** Canonical key of the full label set, stable across the series' lifetimes (for outputs that keep cross-window state). */
  get key(): string {
    if (this.canonical === null) {
      // Length-prefixed values keep the key unambiguous without escaping; JSON.stringify per
      // label measured ~10 µs per series (300,000 series: 3 s per window flush of a counter rule).
      let key = "";
      for (const n of Object.keys(this.labels).sort()) {
        const v = this.labels[n];
        if (v) key += n + "=" + v.length + ":" + v + ",";
      }
      this.canonical = key;
    }
    return this.canonical;
  }
}

/** FNV-1a over `name \0 value`, finished with murmur3's fmix32 so that summing pair hashes stays well spread. */
function pairHash(name: string, value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0, 0x01000193);
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class SeriesInterner {
  private readonly byHash = new Map<number, SeriesRef>();
  private count = 0;

  /** Number of series currently held. */
  get size(): number {
    return this.count;
  }

  /** The interned series of `labels` (created if new; it is released again unless a window retains it). */
  intern(labels: Labels): SeriesRef {
    let hash = 0;
    let size = 0;
    for (const n in labels) {
      const v = labels[n]!;
      if (v === "") continue;
      hash = (hash + pairHash(n, v)) | 0; // a sum: independent of label order
      size++;
    }
    const head = this.byHash.get(hash) ?? null;
    for (let ref = head; ref !== null; ref = ref.next) {
      if (ref.size === size && sameLabels(ref.labels, labels)) return ref;
    }
    const ref = new SeriesRef(hash, labels, size);
    ref.next = head;
    this.byHash.set(hash, ref);
    this.count++;
    return ref;
  }

  /** Forgets `ref` (called when no open window holds it any more). */
  release(ref: SeriesRef): void {
    let prev: SeriesRef | null = null;
    for (let cur = this.byHash.get(ref.hash) ?? null; cur !== null; prev = cur, cur = cur.next) {
      if (cur !== ref) continue;
      if (prev !== null) prev.next = cur.next;
      else if (cur.next !== null) this.byHash.set(ref.hash, cur.next);
      else this.byHash.delete(ref.hash);
      this.count--;
      return;
    }
  }
}

/** `b` has the same non-empty labels as `a`, given that both have the same number of them. */
function sameLabels(a: Labels, b: Labels): boolean {
  for (const n in b) {
    const v = b[n]!;
    if (v !== "" && a[n] !== v) return false;
  }
  return true;
}
