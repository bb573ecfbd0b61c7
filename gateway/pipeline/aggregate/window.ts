import type { Labels, Sample } from "../../prom/sample.js";
import type { AggregationOutput, GroupContext, OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";
import type { StaleTracker } from "./staleness.js";
import type { WordWriter } from "./stamp-words.js";
import { relabelLabels, type CompiledRelabel } from "../../prom/relabel.js";

/**
 * One input series' samples in one window of a buffered rule (de-duplication
 * or order-sensitive outputs), replayed in timestamp order at flush.
 */
export class SeriesBuffer {
  readonly ts: number[] = [];
  readonly values: number[] = [];
  /** Still in timestamp order (the common case: a device sends in order): no sort at flush. */
  sorted = true;

  /**
   * Adds a sample. With de-duplication, a sample in the same dedup bucket as
   * the previous one replaces it if it is later (equal: larger value), so an
   * in-order series keeps one sample per bucket; out-of-order ones are
   * resolved at flush.
   */
  add(ts: number, value: number, dedupMs: number): void {
    const n = this.ts.length;
    if (n > 0) {
      const lastTs = this.ts[n - 1]!;
      if (dedupMs > 0 && Math.floor(lastTs / dedupMs) === Math.floor(ts / dedupMs) && ts >= lastTs) {
        if (ts > lastTs || value > this.values[n - 1]!) {
          this.ts[n - 1] = ts;
          this.values[n - 1] = value;
        }
        return;
      }
      if (ts < lastTs) this.sorted = false;
    }
    this.ts.push(ts);
    this.values.push(value);
  }

  /** Calls `fn` for each sample in timestamp order (stable: equal timestamps keep arrival order), de-duplicated. */
  replay(dedupMs: number, fn: (value: number, ts: number) => void): void {
    const n = this.ts.length;
    let order: number[] | null = null;
    if (!this.sorted) {
      order = Array.from({ length: n }, (_, i) => i);
      order.sort((a, b) => this.ts[a]! - this.ts[b]! || a - b);
    }
    for (let k = 0; k < n; k++) {
      const i = order === null ? k : order[k]!;
      const ts = this.ts[i]!;
      const value = this.values[i]!;
      if (dedupMs > 0) {
        // Keep the last of the run of samples in this dedup bucket (latest timestamp; equal: larger value).
        const bucket = Math.floor(ts / dedupMs);
        const j = k + 1 < n ? (order === null ? k + 1 : order[k + 1]!) : -1;
        if (j >= 0 && Math.floor(this.ts[j]! / dedupMs) === bucket) {
          if (this.ts[j] === ts && this.values[j]! < value) this.values[j] = value;
          continue;
        }
      }
      fn(value, ts);
    }
  }
}

/** The state of one group in one window: its output labels and one state per output (or, buffered, its samples). */
export class Group implements GroupContext {
  /** Per output, created at the first sample (buffered rules: at flush). */
  states: unknown[] | null = null;
  /** Buffered rules only: samples per input series, in first-arrival order. */
  buffers: Map<SeriesRef, SeriesBuffer> | null = null;
  constructor(
    readonly key: string,
    readonly end: number,
    readonly metric: string,
    /** Output labels without `__name__`. */
    readonly labels: Labels,
  ) {}
}

/** What `Window.admit` found: a series new to the window, a new timestamp of a known one, or a duplicate. */
export const enum Admit {
  Duplicate = -1,
  Known = 0,
  New = 1,
}

/** Window ids (SeriesRef keeps the ids of the windows that hold it): unique within the process. */
let nextWindowId = 0;

/** One open event-time window `[start, end)` of one rule. */
export class Window {
  readonly id = nextWindowId++;
  readonly groups = new Map<string, Group>();
  /**
   * Distinct input series in this window, in arrival order; each is held
   * (interned) while a window lists it, and keeps its timestamps in this
   * window on itself (SeriesRef.stampsIn): a plain array of references is
   * all the window pays per series.
   */
  members: SeriesRef[] = [];
  /** Samples absorbed (what is lost if the window is dropped). */
  samples = 0;
  /**
   * Restored from a checkpoint: per input series (SeriesRef.dedupId), the
   * timestamps it had absorbed, until that series sends again (it then
   * joins `members` with them).
   */
  restored: Map<number, number[]> | null = null;
  constructor(
    /** Index of the rule in the config; orders windows with equal start deterministically. */
    readonly rule: number,
    readonly start: number,
    readonly end: number,
  ) {}

  /**
   * Records (series, ts). A series new to the window joins `members` (and
   * is held until this window releases it). In-order series cost a comparison.
   */
  admit(series: SeriesRef, ts: number): Admit {
    const off = ts - this.start;
    const cur = series.stampsIn(this.id);
    if (cur !== undefined) {
      const next = addStamp(cur, off);
      if (next === null) return Admit.Duplicate;
      if (next !== cur) series.setStamps(this.id, next);
      return Admit.Known;
    }
    let stamps: number | number[] = off;
    let result = Admit.New;
    if (this.restored !== null) {
      const id = series.dedupId;
      const saved = this.restored.get(id);
      if (saved !== undefined) {
        this.restored.delete(id);
        if (this.restored.size === 0) this.restored = null;
        let list: number | number[] = saved.length === 1 ? saved[0]! - this.start : saved.map((t) => t - this.start);
        const next = addStamp(list, off);
        result = next === null ? Admit.Duplicate : Admit.Known;
        if (next !== null) list = next;
        stamps = list;
      }
    }
    series.setStamps(this.id, stamps);
    this.members.push(series);
    return result;
  }

  /** Makes `series` a member (a restored series that a checkpointed state refers to), with its restored timestamps. */
  adopt(series: SeriesRef): void {
    if (series.stampsIn(this.id) !== undefined) return;
    let stamps: number | number[] = [];
    const saved = this.restored?.get(series.dedupId);
    if (saved !== undefined) {
      this.restored!.delete(series.dedupId);
      if (this.restored!.size === 0) this.restored = null;
      stamps = saved.length === 1 ? saved[0]! - this.start : saved.map((t) => t - this.start);
    }
    series.setStamps(this.id, stamps);
    this.members.push(series);
  }

  /**
   * Every (dedupId, timestamps) of this window, for checkpoints, packed:
   * `ids` the dedupIds (float64), `offsets` per series its count then its
   * timestamps as offsets from the window start (int32), both little-endian
   * base64. A million rows as JSON arrays took ~0.5 s to write (the gateway
   * writes a checkpoint after every tick that flushed a window); packed,
   * a few tens of ms. Null when a timestamp is not a whole millisecond
   * offset (then the caller writes JSON rows).
   */
  packStamps(): { ids: string; offsets: string } | null {
    const ids = new Float64Array(this.members.length + (this.restored?.size ?? 0));
    // One pass over the members (a million scattered series: each visit is a cache miss); most hold one timestamp.
    let offsets = new Int32Array(2 * ids.length + 16);
    let rows = 0;
    let ints = 0;
    const room = (n: number): void => {
      if (ints + n <= offsets.length) return;
      const bigger = new Int32Array(Math.max(offsets.length * 2, ints + n));
      bigger.set(offsets.subarray(0, ints));
      offsets = bigger;
    };
    for (const s of this.members) {
      const st = s.stampsIn(this.id);
      if (st === undefined) continue;
      ids[rows++] = s.dedupId;
      if (typeof st === "number") {
        if (!isOffset(st)) return null;
        room(2);
        offsets[ints++] = 1;
        offsets[ints++] = st;
      } else {
        room(1 + st.length);
        offsets[ints++] = st.length;
        for (const off of st) {
          if (!isOffset(off)) return null;
          offsets[ints++] = off;
        }
      }
    }
    if (this.restored !== null) {
      for (const [id, list] of this.restored) {
        ids[rows++] = id;
        room(1 + list.length);
        offsets[ints++] = list.length;
        for (const ts of list) {
          const off = ts - this.start;
          if (!isOffset(off)) return null;
          offsets[ints++] = off;
        }
      }
    }
    return { ids: leBase64(ids.subarray(0, rows)), offsets: leBase64(offsets.subarray(0, ints)) };
  }

  /** The inverse of `packStamps`, into `restored`. */
  unpackStamps(ids: string, offsets: string): void {
    const idList = new Float64Array(fromLeBase64(ids, 8));
    const offs = new Int32Array(fromLeBase64(offsets, 4));
    const restored = new Map<number, number[]>();
    let k = 0;
    for (let r = 0; r < idList.length; r++) {
      const n = offs[k++];
      if (n === undefined || k + n > offs.length) throw new Error("checkpoint: packed timestamps are truncated");
      const list: number[] = new Array(n);
      for (let i = 0; i < n; i++) list[i] = offs[k++]! + this.start;
      restored.set(idList[r]!, list);
    }
    if (restored.size > 0) this.restored = restored;
  }

  /**
   * Appends every (dedupId, timestamps) of this window to `w` (binary
   * checkpoints) as 32-bit words, per series: the dedupId's high 32 bits;
   * its low 20 bits with the number of timestamps n above them (n ≥ 2047:
   * 2047 there and n in a word of its own); the timestamps as offsets from
   * the window start. 8 bytes for a series with one timestamp. Nothing is
   * allocated per series (a million boxed dedupIds made scavenges, and big
   * arrays new at each checkpoint made full GCs, that stalled the event loop
   * for hundreds of ms).
   *
   * Resumable: writes from `c` on, at most `budget` series, and returns 1
   * when the window is done (`c.rows` series written), 0 when the budget ran
   * out (call again with the same cursor: the window must not change in
   * between), -1 when a timestamp is not a whole millisecond int32 offset
   * (the caller rewinds `w` and writes JSON rows instead).
   */
  writeStampWords(w: WordWriter, c: StampCursor = newStampCursor(), budget = Infinity): -1 | 0 | 1 {
    const id = this.id;
    const members = this.members;
    const first = c.member;
    const stop = Math.min(members.length, first + budget);
    let words = w.reserve(2 * (stop - c.member) + 64);
    let at = w.length;
    let rows = c.rows;
    let i = c.member;
    for (; i < stop; i++) {
      const s = members[i]!;
      const st = s.stampsIn(id);
      if (st === undefined) continue;
      if (typeof st === "number") {
        if (at + 3 > words.length) {
          w.length = at;
          words = w.reserve(3 + 3 * (stop - i));
        }
        if (!isOffset(st)) return -1;
        s.writeDedupId(words, at, 1);
        words[at + 2] = st;
        at += 3;
      } else {
        const n = st.length;
        if (at + 3 + n > words.length) {
          w.length = at;
          words = w.reserve(3 + n + 3 * (stop - i));
        }
        s.writeDedupId(words, at, Math.min(n, STAMP_COUNT_ESCAPE));
        at += 2;
        if (n >= STAMP_COUNT_ESCAPE) words[at++] = n;
        for (let k = 0; k < n; k++) {
          const off = st[k]!;
          if (!isOffset(off)) return -1;
          words[at++] = off;
        }
      }
      rows++;
    }
    c.member = i;
    c.rows = rows;
    w.length = at;
    if (i < members.length) return 0;
    if (this.restored !== null) {
      c.restored ??= this.restored.entries();
      let left = budget - (i - first);
      for (;;) {
        if (left-- <= 0) return 0;
        const next = c.restored.next();
        if (next.done === true) break;
        const [dedupId, list] = next.value;
        const n = list.length;
        words = w.reserve(3 + n);
        at = w.length;
        words[at] = Math.floor(dedupId / 0x100000) | 0;
        words[at + 1] = (dedupId % 0x100000) | (Math.min(n, STAMP_COUNT_ESCAPE) << 20);
        at += 2;
        if (n >= STAMP_COUNT_ESCAPE) words[at++] = n;
        for (const ts of list) {
          const off = ts - this.start;
          if (!isOffset(off)) return -1;
          words[at++] = off;
        }
        w.length = at;
        c.rows++;
      }
    }
    return 1;
  }

  /** The inverse of `writeStampWords` (`rows` series in `words[from, to)`), into `restored`. */
  readStampWords(words: Int32Array, from: number, to: number, rows: number): void {
    const restored = new Map<number, number[]>();
    let k = from;
    for (let r = 0; r < rows; r++) {
      if (k + 2 > to) throw new Error("checkpoint: packed timestamps are truncated");
      const lo = words[k + 1]!;
      const dedupId = (words[k]! >>> 0) * 0x100000 + (lo & 0xfffff);
      k += 2;
      let n = lo >>> 20;
      if (n === STAMP_COUNT_ESCAPE) {
        if (k >= to) throw new Error("checkpoint: packed timestamps are truncated");
        n = words[k++]!;
      }
      if (n < 0 || k + n > to) throw new Error("checkpoint: packed timestamps are truncated");
      const list: number[] = new Array(n);
      for (let i = 0; i < n; i++) list[i] = words[k++]! + this.start;
      restored.set(dedupId, list);
    }
    if (k !== to) throw new Error("checkpoint: packed timestamps have trailing words");
    if (restored.size > 0) this.restored = restored;
  }

  /** Every (dedupId, timestamps) of this window as JSON rows (checkpoints, when `packStamps` cannot). */
  stampRows(): [number, number[]][] {
    const rows: [number, number[]][] = [];
    for (const s of this.members) {
      const st = s.stampsIn(this.id);
      if (st === undefined) continue;
      rows.push([s.dedupId, typeof st === "number" ? [st + this.start] : st.map((o) => o + this.start)]);
    }
    if (this.restored !== null) for (const [id, list] of this.restored) rows.push([id, list]);
    return rows;
  }
}

/** Where `Window.writeStampWords` goes on from. */
export interface StampCursor {
  member: number;
  restored: Iterator<[number, number[]]> | null;
  /** Series written so far. */
  rows: number;
}

export const newStampCursor = (): StampCursor => ({ member: 0, restored: null, rows: 0 });

/** Timestamp counts from this one on take a word of their own in `writeStampWords` (11 bits beside the dedupId's low 20). */
const STAMP_COUNT_ESCAPE = 2047;

/** A timestamp offset that packs into an int32. */
function isOffset(off: number): boolean {
  return Number.isInteger(off) && off >= -0x80000000 && off <= 0x7fffffff;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A typed array's bytes as little-endian base64 (swapped on a big-endian host). */
function leBase64(a: Float64Array | Int32Array): string {
  const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return bytes.toString("base64");
  const copy = Buffer.from(bytes);
  if (a.BYTES_PER_ELEMENT === 8) copy.swap64();
  else copy.swap32();
  return copy.toString("base64");
}

/** Little-endian base64 → an aligned ArrayBuffer of `width`-byte host-order elements. */
function fromLeBase64(text: string, width: 4 | 8): ArrayBuffer {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length % width !== 0) throw new Error("checkpoint: packed timestamps have a bad length");
  const copy = new Uint8Array(bytes); // a fresh, aligned buffer
  if (!LITTLE_ENDIAN) {
    const b = Buffer.from(copy.buffer);
    if (width === 8) b.swap64();
    else b.swap32();
  }
  return copy.buffer;
}

/** `stamps` with `off` added (ascending, a list only once there are two); null when `off` is already there. May reuse the list. */
function addStamp(stamps: number | number[], off: number): number | number[] | null {
  if (typeof stamps === "number") {
    if (off === stamps) return null;
    return off > stamps ? [stamps, off] : [off, stamps];
  }
  const n = stamps.length;
  if (off > stamps[n - 1]!) {
    stamps.push(off);
    return stamps;
  }
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (stamps[mid]! < off) lo = mid + 1;
    else hi = mid;
  }
  if (stamps[lo] === off) return null;
  stamps.splice(lo, 0, off);
  return stamps;
}

/**
 * Turns each output's results into samples. One instance per stage, re-aimed
 * at each (group, output) before `flush` is called, so emitting allocates
 * nothing but the output samples themselves. Every emitted series is
 * recorded in the rule's StaleTracker.
 */
export class SampleEmitter implements OutputEmitter {
  out: Sample[] = [];
  private name = "";
  private labels: Labels = {};
  private timestamp = 0;
  private groupKey = "";
  private stale: StaleTracker | null = null;
  private relabel: readonly CompiledRelabel[] | null = null;
  /** Output series dropped by output_relabel_configs since the last `takeDropped`. */
  private dropped = 0;

  aim(
    out: Sample[],
    name: string,
    labels: Labels,
    timestamp: number,
    groupKey = "",
    stale: StaleTracker | null = null,
    relabel: readonly CompiledRelabel[] | null = null,
  ): void {
    this.out = out;
    this.name = name;
    this.labels = labels;
    this.timestamp = timestamp;
    this.groupKey = groupKey;
    this.stale = stale;
    this.relabel = relabel;
  }

  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }

  emit(value: number, extraLabel?: string, extraValue?: string): void {
    let labels: Labels = { __name__: this.name };
    for (const n in this.labels) labels[n] = this.labels[n]!;
    const extra = extraLabel !== undefined && extraValue ? extraValue : "";
    if (extra !== "") labels[extraLabel!] = extra;
    if (this.relabel !== null) {
      const r = relabelLabels(labels, this.relabel);
      if (typeof r === "string") {
        this.dropped++;
        return;
      }
      labels = r;
    }
    this.out.push({ labels, value, timestamp: this.timestamp });
    this.stale?.seen(this.name + "\u0000" + this.groupKey + "\u0000" + extra, labels, this.timestamp);
  }
}

export interface EmitTarget {
  outputs: readonly AggregationOutput[];
  buffered: boolean;
  options: { dedupMs: number; fixedName: string | null; suffixes: readonly string[]; relabel: readonly CompiledRelabel[] | null };
  stale: StaleTracker;
}

/**
 * Emits every group of a closed window: one sample per output (or more, for
 * multi-series outputs), named `<metric><suffix>` (or the rule's
 * output_name) and stamped with the window END (the time at which the
 * aggregate is complete, as vmagent stamps flushes). A buffered group's
 * samples are first replayed into fresh output states, per series in
 * timestamp order.
 */
export function emitWindow(win: Window, rule: EmitTarget, emitter: SampleEmitter, out: Sample[]): void {
  const outputs = rule.outputs;
  const { dedupMs, fixedName, suffixes, relabel } = rule.options;
  for (const g of win.groups.values()) {
    if (g.buffers !== null) {
      const states = outputs.map((o) => o.init(g));
      for (const [series, buf] of g.buffers) {
        let first = true;
        buf.replay(dedupMs, (value, ts) => {
          for (let i = 0; i < outputs.length; i++) outputs[i]!.update(states[i], value, ts, series, first);
          first = false;
        });
      }
      g.states = states;
    }
    const states = g.states!;
    for (let i = 0; i < outputs.length; i++) {
      emitter.aim(out, fixedName ?? g.metric + suffixes[i]!, g.labels, win.end, g.key, rule.stale, relabel);
      outputs[i]!.flush(states[i], emitter, g);
    }
  }
}
