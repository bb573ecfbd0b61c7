import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter, type SeriesCodec } from "./output.js";
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
  save(s: CountSeriesState, codec: SeriesCodec): Json {
    const refs: number[] = [];
    for (const series of s.series) refs.push(codec.ref(series));
    return refs;
  },
  load(data: Json, _group, codec: SeriesCodec): CountSeriesState {
    const s = new CountSeriesState();
    for (const i of asArray(data)) s.series.add(codec.deref(asNumber(i)));
    return s;
  },
};
