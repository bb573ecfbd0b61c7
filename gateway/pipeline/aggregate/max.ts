import { asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `max`: largest sample value in the window. */
class MaxState {
  value = -Infinity;
}

export const max: AggregationOutput<MaxState> = {
  name: "max",
  init: () => new MaxState(),
  update(s: MaxState, value: number): void {
    if (value > s.value) s.value = value;
  },
  flush(s: MaxState, out: OutputEmitter): void {
    out.emit(s.value);
  },
  save: (s: MaxState): Json => s.value,
  load(data: Json): MaxState {
    const s = new MaxState();
    s.value = asNumber(data);
    return s;
  },
};
