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
/** SeriesRef.winA/winB when unused (window ids count from 0). */
const NO_WINDOW = -1;

export class SeriesRef {
  /** Open windows (of any rule) that hold this series. */
  windows = 0;
  /** Next series with the same hash (collision chain). */
  next: SeriesRef | null = null;
  /** This series' group key in rule 0 (interned: the group's own key string), computed on first use. */
  private groupKey0: string | undefined = undefined;
  /** The same for rules 1.. (most configs have one rule: no array per series). */
  private groupKeysRest: Array<string | undefined> | null = null;
  /** dedupId in two small-integer halves (no boxed double per series); dedupLo < 0: not computed yet. */
  private dedupHi = 0;
  private dedupLo = -1;
  /**
   * Window membership, kept on the series rather than in a map per window
   * (a window with a million series would otherwise hold a million map
   * entries and rehash them as it grows): up to two windows inline, more in
   * a map. Each holds this series' timestamps in that window as offsets from
   * the window start: one number, or an ascending list.
   */
  winA = NO_WINDOW;
  stampsA: number | number[] = 0;
  winB = NO_WINDOW;
  stampsB: number | number[] = 0;
  moreWins: Map<number, number | number[]> | null = null;

  constructor(
    readonly hash: number,
    /** The first-seen label object of the series (label objects are immutable in the pipeline). */
    readonly labels: Labels,
    /** Number of non-empty labels. */
    readonly size: number,
  ) {}

  groupKey(rule: number): string | undefined {
    if (rule === 0) return this.groupKey0;
    return this.groupKeysRest?.[rule - 1];
  }

  setGroupKey(rule: number, key: string): void {
    if (rule === 0) this.groupKey0 = key;
    else (this.groupKeysRest ??= [])[rule - 1] = key;
  }

  /** This series' timestamps (offsets) in `win`, undefined when `win` does not hold it. */
  stampsIn(win: number): number | number[] | undefined {
    if (this.winA === win) return this.stampsA;
    if (this.winB === win) return this.stampsB;
    return this.moreWins?.get(win);
  }

  /** Sets the timestamps of `win` (adding the membership if new). */
  setStamps(win: number, stamps: number | number[]): void {
    if (this.winA === win) this.stampsA = stamps;
    else if (this.winB === win) this.stampsB = stamps;
    else if (this.moreWins?.has(win) === true) this.moreWins.set(win, stamps);
    else if (this.winA === NO_WINDOW) {
      this.winA = win;
      this.stampsA = stamps;
    } else if (this.winB === NO_WINDOW) {
      this.winB = win;
      this.stampsB = stamps;
    } else (this.moreWins ??= new Map()).set(win, stamps);
  }

  /** Forgets the membership in `win`. */
  leave(win: number): void {
    if (this.winA === win) {
      this.winA = NO_WINDOW;
      this.stampsA = 0;
    } else if (this.winB === win) {
      this.winB = NO_WINDOW;
      this.stampsB = 0;
    } else if (this.moreWins !== null) {
      this.moreWins.delete(win);
      if (this.moreWins.size === 0) this.moreWins = null;
    }
  }

  /**
   * A 52-bit hash of `key`, stable across runs: identifies the series in a
   * window's duplicate check, also after a checkpoint restore, without
   * writing every input series' labels into the checkpoint. Hashes the
   * characters of `key` without keeping (or building) that string.
   */
  get dedupId(): number {
    if (this.dedupLo < 0) {
      const h = { a: 0x811c9dc5, b: 0x9747b28c };
      const cached = keyCache.get(this);
      if (cached !== undefined) hashChars(h, cached);
      else {
        for (const n of Object.keys(this.labels).sort()) {
          const v = this.labels[n];
          if (!v) continue;
          hashChars(h, n);
          hashChars(h, "=");
          hashChars(h, String(v.length));
          hashChars(h, ":");
          hashChars(h, v);
          hashChars(h, ",");
        }
      }
      this.dedupHi = h.a | 0;
      this.dedupLo = h.b & 0xfffff;
    }
    return (this.dedupHi >>> 0) * 0x100000 + this.dedupLo;
  }

  /** Canonical key of the full label set, stable across the series' lifetimes (for outputs that keep cross-window state). */
  get key(): string {
    let key = keyCache.get(this);
    if (key === undefined) {
      // Length-prefixed values keep the key unambiguous without escaping; JSON.stringify per
      // label measured ~10 µs per series (300,000 series: 3 s per window flush of a counter rule).
      key = "";
      for (const n of Object.keys(this.labels).sort()) {
        const v = this.labels[n];
        if (v) key += n + "=" + v.length + ":" + v + ",";
      }
      keyCache.set(this, key);
    }
    return key;
  }
}

/**
 * Canonical keys, only for the series an output with cross-window state asks
 * for (total, increase, rate_*): a field on every series would cost 8 bytes
 * per series for the rules that never use it.
 */
const keyCache = new WeakMap<SeriesRef, string>();

/** The dedupId hash step over the characters of `s` (two FNV-style lanes). */
function hashChars(h: { a: number; b: number }, s: string): void {
  let a = h.a;
  let b = h.b;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  h.a = a;
  h.b = b;
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
    // Computed now, spread over ingest, rather than for every new series at the next checkpoint.
    void ref.dedupId;
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
