import type { Labels } from "../../prom/sample.js";
import { labelsHash, pairHash, seriesHashes } from "../../prom/series-hash.js";

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
 * Memory stays bounded: a series is held only while an open window holds it,
 * and released when the last such window is flushed.
 * An empty label value is the same as an absent label (Prometheus data model).
 */
/** SeriesRef.winA/winB when unused (window ids count from 0). */
const NO_WINDOW = -1;

/** Labels beyond this count share one size code; their series compare label counts in full. */
const SIZE_CAP = 1023;

/**
 * One interned input series. Its fields are what a million of them cost
 * (issue #12: ≤ 300 B per active series): the label object, the group key
 * of rule 0, the dedupId with the label count packed beside it, and the
 * (up to two inline) windows that hold it. The reference count is the
 * number of those windows; the hash of the label pairs is recomputed when
 * the series is released rather than kept.
 */
export class SeriesRef {
  /** This series' group key in rule 0 (interned: the group's own key string), computed on first use. */
  private groupKey0: string | undefined = undefined;
  /** Rarely needed: group keys of rules 1.. and windows beyond the two inline ones. */
  private extra: { groupKeys: Array<string | undefined>; wins: Map<number, number | number[]> | null } | null = null;
  /** dedupId: the high 32 bits (as int32), and the low 20 bits with the label count (capped) above them. */
  private readonly dedupHi: number;
  private readonly dedupLoSize: number;
  /**
   * Window membership, kept on the series rather than in a map per window
   * (a window with a million series would otherwise hold a million map
   * entries and rehash them as it grows): up to two windows inline, more in
   * `extra`. Each holds this series' timestamps in that window as offsets
   * from the window start: one number, or an ascending list. Windows are
   * named by their numeric id, not referenced: a million old series
   * pointing at a young window object made every scavenge walk a million
   * remembered slots.
   */
  winA = NO_WINDOW;
  stampsA: number | number[] = 0;
  winB = NO_WINDOW;
  stampsB: number | number[] = 0;

  constructor(
    /** The series' labels (non-empty ones; never modified). */
    readonly labels: Labels,
    /** Number of non-empty labels. */
    size: number,
  ) {
    const h = { a: 0x811c9dc5, b: 0x9747b28c };
    // A 52-bit hash of `key` (see dedupId), computed without building that string.
    for (const n of Object.keys(labels).sort()) {
      const v = labels[n];
      if (!v) continue;
      hashChars(h, n);
      hashChars(h, "=");
      hashChars(h, String(v.length));
      hashChars(h, ":");
      hashChars(h, v);
      hashChars(h, ",");
    }
    this.dedupHi = h.a | 0;
    this.dedupLoSize = (h.b & 0xfffff) | (Math.min(size, SIZE_CAP) << 20);
  }

  /** Number of non-empty labels. */
  get size(): number {
    const code = this.dedupLoSize >>> 20;
    if (code < SIZE_CAP) return code;
    let n = 0;
    for (const k in this.labels) if (this.labels[k] !== "") n++;
    return n;
  }

  /** The order-independent hash of the label pairs (the interner's table key). */
  get hash(): number {
    return labelsHash(this.labels);
  }

  /** Open windows that hold this series. */
  get windows(): number {
    return (this.winA !== NO_WINDOW ? 1 : 0) + (this.winB !== NO_WINDOW ? 1 : 0) + (this.extra?.wins?.size ?? 0);
  }

  groupKey(rule: number): string | undefined {
    if (rule === 0) return this.groupKey0;
    return this.extra?.groupKeys[rule - 1];
  }

  setGroupKey(rule: number, key: string): void {
    if (rule === 0) this.groupKey0 = key;
    else (this.extra ??= { groupKeys: [], wins: null }).groupKeys[rule - 1] = key;
  }

  /** This series' timestamps (offsets) in `win`, undefined when `win` does not hold it. */
  stampsIn(win: number): number | number[] | undefined {
    if (this.winA === win) return this.stampsA;
    if (this.winB === win) return this.stampsB;
    return this.extra?.wins?.get(win);
  }

  /** Sets the timestamps of `win` (adding the membership if new). */
  setStamps(win: number, stamps: number | number[]): void {
    if (this.winA === win) this.stampsA = stamps;
    else if (this.winB === win) this.stampsB = stamps;
    else if (this.extra?.wins?.has(win) === true) this.extra.wins.set(win, stamps);
    else if (this.winA === NO_WINDOW) {
      this.winA = win;
      this.stampsA = stamps;
    } else if (this.winB === NO_WINDOW) {
      this.winB = win;
      this.stampsB = stamps;
    } else ((this.extra ??= { groupKeys: [], wins: null }).wins ??= new Map()).set(win, stamps);
  }

  /** Forgets the membership in `win`; true when no window holds this series any more. */
  leave(win: number): boolean {
    if (this.winA === win) {
      this.winA = NO_WINDOW;
      this.stampsA = 0;
    } else if (this.winB === win) {
      this.winB = NO_WINDOW;
      this.stampsB = 0;
    } else if (this.extra?.wins != null) {
      this.extra.wins.delete(win);
      if (this.extra.wins.size === 0) this.extra.wins = null;
    }
    return this.winA === NO_WINDOW && this.winB === NO_WINDOW && (this.extra?.wins ?? null) === null;
  }

  /**
   * A 52-bit hash of `key`, stable across runs: identifies the series in a
   * window's duplicate check, also after a checkpoint restore, without
   * writing every input series' labels into the checkpoint.
   */
  get dedupId(): number {
    return (this.dedupHi >>> 0) * 0x100000 + (this.dedupLoSize & 0xfffff);
  }

  /**
   * Writes the dedupId as two 32-bit words at `at`: its high 32 bits, then its low 20 bits with
   * `count` (< 2048) above them; without boxing the dedupId as a double (binary checkpoints).
   */
  writeDedupId(words: Int32Array, at: number, count: number): void {
    words[at] = this.dedupHi;
    words[at + 1] = (this.dedupLoSize & 0xfffff) | (count << 20);
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

/** Label values the interner shares between series (see SeriesInterner.compact); cleared when full. */
const VALUE_POOL_MAX = 65_536;
/** Longer values are kept as they come (mostly unique: ids, not fleets or models). */
const VALUE_POOL_MAX_LENGTH = 64;

export class SeriesInterner {
  /** By label hash: the series, or (hash collision) the list of them. */
  private readonly byHash = new Map<number, SeriesRef | SeriesRef[]>();
  private count = 0;
  private readonly values = new Map<string, string>();

  /**
   * The label object a new series keeps: a copy without empty values whose
   * values are shared with earlier series where equal. A decoder makes
   * fresh strings per message (a JSON field, a topic segment), so keeping
   * its object kept one copy of "north" or "ev-van" per series (~24-32 B
   * each, issue #12); the decoder's object is left to the young generation.
   */
  private compact(labels: Labels): Labels {
    const out: Labels = {};
    const pool = this.values;
    for (const n in labels) {
      const v = labels[n]!;
      if (v === "") continue;
      if (v.length > VALUE_POOL_MAX_LENGTH) {
        out[n] = v;
        continue;
      }
      const shared = pool.get(v);
      if (shared !== undefined) out[n] = shared;
      else {
        if (pool.size >= VALUE_POOL_MAX) pool.clear();
        pool.set(v, v);
        out[n] = v;
      }
    }
    return out;
  }

  /** Number of series currently held. */
  get size(): number {
    return this.count;
  }

  /** The interned series of `labels` (created if new; it is released again unless a window retains it); `index`: its place in the batch (a hint for the limiter's hash). */
  intern(labels: Labels, index = -1): SeriesRef {
    let hash = 0;
    let size = 0;
    if (seriesHashes.find(labels, index)) {
      // The limiter hashed this very object (see series-hash.ts).
      hash = seriesHashes.hash;
      size = seriesHashes.size;
    } else {
      for (const n in labels) {
        const v = labels[n]!;
        if (v === "") continue;
        hash = (hash + pairHash(n, v)) | 0; // a sum: independent of label order
        size++;
      }
    }
    const found = this.byHash.get(hash);
    if (found !== undefined) {
      if (!Array.isArray(found)) {
        if (found.size === size && sameLabels(found.labels, labels)) return found;
      } else {
        for (const ref of found) if (ref.size === size && sameLabels(ref.labels, labels)) return ref;
      }
    }
    const ref = new SeriesRef(this.compact(labels), size);
    if (found === undefined) this.byHash.set(hash, ref);
    else if (Array.isArray(found)) found.push(ref);
    else this.byHash.set(hash, [found, ref]);
    this.count++;
    return ref;
  }

  /** Forgets `ref` (called when no open window holds it any more). */
  release(ref: SeriesRef): void {
    const hash = ref.hash;
    const found = this.byHash.get(hash);
    if (found === ref) this.byHash.delete(hash);
    else if (Array.isArray(found) && found.includes(ref)) {
      const rest = found.filter((r) => r !== ref);
      this.byHash.set(hash, rest.length === 1 ? rest[0]! : rest);
    } else return;
    this.count--;
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
