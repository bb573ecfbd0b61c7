import { LABEL_NAME_RE } from "../../prom/sample.js";
import { asArray, asString, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/**
 * `count_distinct(label)`: number of distinct values of `label` among the
 * group's samples in the window, e.g. `count_distinct(vin)` = vehicles that
 * reported. `count_distinct_nonzero(label)` counts only samples whose value is
 * not 0: the Flink demo's `vehicles_in_motion` (distinct vehicles with a
 * non-zero RPM event; a group whose events were all 0 still emits 0, as the
 * demo's window function does). Samples without the label are not counted.
 *
 * Not in vmagent: its `count_series` counts full label sets, which differs as
 * soon as a vehicle has more than one series in a group (e.g. two event types).
 */
class DistinctState {
  readonly values = new Set<string>();
}

function make(name: string, label: string, nonZeroOnly: boolean): AggregationOutput<DistinctState> {
  return {
    name,
    init: () => new DistinctState(),
    update(s: DistinctState, value: number, _ts: number, series: SeriesRef): void {
      if (nonZeroOnly && value === 0) return;
      const v = series.labels[label];
      if (typeof v === "string" && v !== "") s.values.add(v);
    },
    flush(s: DistinctState, out: OutputEmitter): void {
      out.emit(s.values.size);
    },
    save: (s: DistinctState): Json => [...s.values],
    load(data: Json): DistinctState {
      const s = new DistinctState();
      for (const v of asArray(data)) s.values.add(asString(v));
      return s;
    },
  };
}

/** Parses the single label-name argument of `count_distinct(label)`-style outputs. */
export function labelArgument(output: string, args: string | undefined): string {
  const label = args?.trim() ?? "";
  if (!LABEL_NAME_RE.test(label)) {
    throw new Error(`output "${output}" takes one label name, e.g. ${output}(vin); got ${JSON.stringify(args ?? "")}`);
  }
  return label;
}

export function countDistinct(label: string): AggregationOutput<DistinctState> {
  return make("count_distinct", label, false);
}

export function countDistinctNonZero(label: string): AggregationOutput<DistinctState> {
  return make("count_distinct_nonzero", label, true);
}
