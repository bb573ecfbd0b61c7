import { asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `count_samples`: number of samples in the window (NaN stale markers excluded). */
class CountState {
  count = 0;
}

export const countSamples: AggregationOutput<CountState> = {
  name: "count_samples",
  init: () => new CountState(),
  update(s: CountState): void {
    s.count++;
  },
  flush(s: CountState, out: OutputEmitter): void {
    out.emit(s.count);
  },
  save: (s: CountState): Json => s.count,
  load(data: Json): CountState {
    const s = new CountState();
    s.count = asNumber(data);
    return s;
  },
};
