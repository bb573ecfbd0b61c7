import { asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `sum_samples`: sum of all sample values in the window. */
class SumState {
  sum = 0;
}

export const sumSamples: AggregationOutput<SumState> = {
  name: "sum_samples",
  init: () => new SumState(),
  update(s: SumState, value: number): void {
    s.sum += value;
  },
  flush(s: SumState, out: OutputEmitter): void {
    out.emit(s.sum);
  },
  save: (s: SumState): Json => s.sum,
  load(data: Json): SumState {
    const s = new SumState();
    s.sum = asNumber(data);
    return s;
  },
};
