import type { SeriesRef } from "./series.js";

/** A JSON value: what an output's state becomes in a checkpoint (gateway/recovery.ts). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The group an output state belongs to: one (rule, window, group). */
export interface GroupContext {
  /** The group's key within its rule: stable across windows and restarts (cross-window state is keyed by it). */
  readonly key: string;
  /** End of the group's window (ms); outputs are stamped with it. */
  readonly end: number;
}

/** Maps interned series to checkpoint indexes and back (count_series keeps series references in its state). */
export interface SeriesCodec {
  ref(series: SeriesRef): number;
  deref(index: number): SeriesRef;
}

/**
 * The interface every aggregation output implements (avg, total, quantiles, ...).
 *
 * As vmagent's lib/streamaggr, each output lives in its own file behind one
 * interface, so a new output is one new file plus one line in outputs.ts.
 *
 * Lifetimes: an output object is created once per rule (see outputs.ts), so
 * it may keep state across windows (`total`'s running sum, the previous value
 * per input series that `increase` and `rate_*` need); `State` is created per
 * (rule, window, group) and dropped when the window is flushed. Windows of a
 * rule are flushed in order of their end, so cross-window state always moves
 * forward in event time.
 */
export interface AggregationOutput<State = unknown> {
  /** The output's name in the series-name suffix, e.g. "avg" → `metric:10s_by_fleet_avg`. */
  readonly name: string;
  /**
   * The output needs each input series' samples in timestamp order (counters:
   * total, increase, rate_*). A rule with such an output buffers each
   * window's samples per series and replays them sorted when the window
   * closes, so `init`/`update` run at flush time, window after window.
   */
  readonly ordered?: boolean;
  /** Fresh state for a group that just received its first sample in a window. */
  init(group: GroupContext): State;
  /**
   * Absorbs one sample. Never called with NaN (stale markers are ignored by
   * aggregation). `series` is the interned input series (full label set);
   * use `series.key` for an identity that outlives windows. `firstInWindow`:
   * this is the series' first sample in this window (and so in this group,
   * which a series always belongs to as a whole), for counting distinct
   * series without a set of them.
   */
  update(state: State, value: number, timestamp: number, series: SeriesRef, firstInWindow: boolean): void;
  /** Emits the window's result(s) for the group; called once, when the window closes. */
  flush(state: State, out: OutputEmitter, group: GroupContext): void;
  /** A window state as JSON, for checkpoints. Required unless `ordered` (ordered rules checkpoint raw samples). */
  save?(state: State, series: SeriesCodec): Json;
  /** The inverse of `save`. */
  load?(data: Json, group: GroupContext, series: SeriesCodec): State;
  /**
   * Cross-window state only: forget input series whose last sample and output
   * groups whose last window are at or before `beforeTs` (event time), as
   * vmagent drops state after `staleness_interval`.
   */
  expire?(beforeTs: number): void;
  /** Cross-window state as JSON, for checkpoints. */
  snapshot?(): Json;
  restore?(data: Json): void;
}

/** Receives the result(s) of one output for one (rule, window, group). */
export interface OutputEmitter {
  /**
   * One output sample. `extraLabel`/`extraValue` distinguish several series of
   * one output (vmagent: `quantile="0.5"` for quantiles, `vmrange` for
   * histogram_bucket); omit them for single-series outputs.
   */
  emit(value: number, extraLabel?: string, extraValue?: string): void;
}

/** Narrowing helpers for `load`/`restore`: a checkpoint is our own JSON, but a corrupt one must fail loudly, not half-load. */
export function asNumber(v: Json | undefined): number {
  if (typeof v !== "number") throw new Error(`checkpoint: expected a number, got ${JSON.stringify(v)}`);
  return v;
}
export function asArray(v: Json | undefined): Json[] {
  if (!Array.isArray(v)) throw new Error(`checkpoint: expected an array, got ${typeof v}`);
  return v;
}
export function asObject(v: Json | undefined): { [key: string]: Json } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`checkpoint: expected an object, got ${JSON.stringify(v)}`);
  return v;
}
export function asString(v: Json | undefined): string {
  if (typeof v !== "string") throw new Error(`checkpoint: expected a string, got ${JSON.stringify(v)}`);
  return v;
}
