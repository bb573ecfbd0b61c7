import type { Labels, Sample } from "../sample.js";
import type { AggregationOutput, OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/** The state of one group in one window: its output labels and one state per output. */
export class Group {
  constructor(
    readonly metric: string,
    /** Output labels without `__name__`. */
    readonly labels: Labels,
    readonly states: unknown[],
  ) {}
}

/** One open event-time window `[start, end)` of one rule. */
export class Window {
  readonly groups = new Map<string, Group>();
  /** Distinct input series in this window; each holds one reference count of its SeriesRef. */
  readonly series = new Set<SeriesRef>();
  constructor(
    /** Index of the rule in the config; orders windows with equal start deterministically. */
    readonly rule: number,
    readonly start: number,
    readonly end: number,
  ) {}
}

/**
 * Turns each output's results into samples. One instance per stage, re-aimed
 * at each (group, output) before `flush` is called, so emitting allocates
 * nothing but the output samples themselves.
 */
export class SampleEmitter implements OutputEmitter {
  out: Sample[] = [];
  private name = "";
  private labels: Labels = {};
  private timestamp = 0;

  aim(out: Sample[], name: string, labels: Labels, timestamp: number): void {
    this.out = out;
    this.name = name;
    this.labels = labels;
    this.timestamp = timestamp;
  }

  emit(value: number, extraLabel?: string, extraValue?: string): void {
    const labels: Labels = { __name__: this.name };
    for (const n in this.labels) labels[n] = this.labels[n]!;
    if (extraLabel !== undefined && extraValue) labels[extraLabel] = extraValue;
    this.out.push({ labels, value, timestamp: this.timestamp });
  }
}

/**
 * Emits every group of a closed window: one sample per output (or more, for
 * multi-series outputs), named `<metric><suffix>` and stamped with the window
 * END (the time at which the aggregate is complete, as vmagent stamps flushes).
 */
export function emitWindow(
  win: Window,
  outputs: readonly AggregationOutput[],
  suffixes: readonly string[],
  emitter: SampleEmitter,
  out: Sample[],
): void {
  for (const g of win.groups.values()) {
    for (let i = 0; i < outputs.length; i++) {
      emitter.aim(out, g.metric + suffixes[i]!, g.labels, win.end);
      outputs[i]!.flush(g.states[i], emitter);
    }
  }
}
