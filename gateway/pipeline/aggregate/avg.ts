import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `avg`: arithmetic mean of the samples in the window (sum / count, as vmagent's avg.go). */
class AvgState {
  sum = 0;
  count = 0;
}

export const avg: AggregationOutput<AvgState> = {
  name: "avg",
  init: () => new AvgState(),
  update(s: AvgState, value: number): void {
    s.sum += value;
    s.count++;
  },
  flush(s: AvgState, out: OutputEmitter): void {
    out.emit(s.sum / s.count);
  },
  save: (s: AvgState): Json => [s.sum, s.count],
  load(data: Json): AvgState {
    const [sum, count] = asArray(data);
    const s = new AvgState();
    s.sum = asNumber(sum);
    s.count = asNumber(count);
    return s;
  },
};
