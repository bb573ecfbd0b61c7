import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/**
 * `count_series`: number of distinct input series (full label sets) in the
 * group during the window. A counter of series new to the window (the
 * window's duplicate check already knows them), not a set of references: a
 * set cost ~40 bytes per input series, and put every series' labels into
 * each checkpoint.
 */
class CountSeriesState {
  n = 0;
}

export const countSeries: AggregationOutput<CountSeriesState> = {
  name: "count_series",
  init: () => new CountSeriesState(),
  update(s: CountSeriesState, _value: number, _timestamp: number, _series, firstInWindow: boolean): void {
    if (firstInWindow) s.n++;
  },
  flush(s: CountSeriesState, out: OutputEmitter): void {
    out.emit(s.n);
  },
  save(s: CountSeriesState): Json {
    return s.n;
  },
  load(data: Json): CountSeriesState {
    const s = new CountSeriesState();
    // Checkpoints of earlier versions hold the list of the series' indexes.
    s.n = Array.isArray(data) ? asArray(data).length : asNumber(data);
    return s;
  },
};
