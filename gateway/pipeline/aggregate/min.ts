import { asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `min`: smallest sample value in the window. */
class MinState {
  value = Infinity;
}

export const min: AggregationOutput<MinState> = {
  name: "min",
  init: () => new MinState(),
  update(s: MinState, value: number): void {
    if (value < s.value) s.value = value;
  },
  flush(s: MinState, out: OutputEmitter): void {
    out.emit(s.value);
  },
  save: (s: MinState): Json => s.value,
  load(data: Json): MinState {
    const s = new MinState();
    s.value = asNumber(data);
    return s;
  },
};
