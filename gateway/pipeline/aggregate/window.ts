import type { Labels, Sample } from "../../prom/sample.js";
import type { AggregationOutput, GroupContext, OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";
import type { StaleTracker } from "./staleness.js";
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

/** One open event-time window `[start, end)` of one rule. */
export class Window {
  readonly groups = new Map<string, Group>();
  /** Distinct input series in this window; each holds one reference count of its SeriesRef. */
  readonly series = new Set<SeriesRef>();
  /** Samples absorbed (what is lost if the window is dropped). */
  samples = 0;
  /** Per input series (SeriesRef.dedupId): the timestamps absorbed, ascending; a repeat is a duplicate. */
  readonly stamps = new Map<number, number[]>();
  constructor(
    /** Index of the rule in the config; orders windows with equal start deterministically. */
    readonly rule: number,
    readonly start: number,
    readonly end: number,
  ) {}

  /** Records (series, ts); false when this window already holds that pair. In-order series cost one push. */
  admit(series: number, ts: number): boolean {
    const list = this.stamps.get(series);
    if (list === undefined) {
      this.stamps.set(series, [ts]);
      return true;
    }
    const n = list.length;
    if (ts > list[n - 1]!) {
      list.push(ts);
      return true;
    }
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < ts) lo = mid + 1;
      else hi = mid;
    }
    if (list[lo] === ts) return false;
    list.splice(lo, 0, ts);
    return true;
  }
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
        buf.replay(dedupMs, (value, ts) => {
          for (let i = 0; i < outputs.length; i++) outputs[i]!.update(states[i], value, ts, series);
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
