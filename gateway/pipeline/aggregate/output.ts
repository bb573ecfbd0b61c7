import type { SeriesRef } from "./series.js";

/**
 * The interface every aggregation output implements (avg, min, max, ...).
 *
 * As vmagent's lib/streamaggr, each output lives in its own file behind one
 * interface, so a new output (total, increase, rate_avg, stddev,
 * quantiles(...), histogram_bucket, unique_samples) is one new file plus one
 * line in outputs.ts, and the stage is not touched.
 *
 * Lifetimes: an output object is created once per rule (see outputs.ts), so
 * it may keep state across windows (e.g. the previous value per input series
 * that `total`/`increase` need); `State` is created per (rule, window, group)
 * and dropped when the window is flushed.
 */
export interface AggregationOutput<State = unknown> {
  /** The output's name in the series-name suffix, e.g. "avg" → `metric:10s_by_fleet_avg`. */
  readonly name: string;
  /** Fresh state for a group that just received its first sample in a window. */
  init(): State;
  /**
   * Absorbs one sample. Never called with NaN (stale markers are ignored by
   * aggregation). `series` is the interned input series (full label set):
   * the same object for the same series while any window holds it; use
   * `series.key` for an identity that outlives windows.
   */
  update(state: State, value: number, timestamp: number, series: SeriesRef): void;
  /** Emits the window's result(s) for the group; called once, when the window closes. */
  flush(state: State, out: OutputEmitter): void;
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
