import type { AggregationOutput, OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/** `count_series`: number of distinct input series (full label sets) in the group during the window (interned: a Set of references). */
class CountSeriesState {
  readonly series = new Set<SeriesRef>();
}

export const countSeries: AggregationOutput<CountSeriesState> = {
  name: "count_series",
  init: () => new CountSeriesState(),
  update(s: CountSeriesState, _value: number, _timestamp: number, series: SeriesRef): void {
    s.series.add(series);
  },
  flush(s: CountSeriesState, out: OutputEmitter): void {
    out.emit(s.series.size);
  },
};
