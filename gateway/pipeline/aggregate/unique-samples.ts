import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/** `unique_samples`: number of distinct sample values in the window (as vmagent's unique_samples.go; 0 and -0 are one value). */
class UniqueState {
  readonly values = new Set<number>();
}

export const uniqueSamples: AggregationOutput<UniqueState> = {
  name: "unique_samples",
  init: () => new UniqueState(),
  update(s: UniqueState, value: number): void {
    s.values.add(value);
  },
  flush(s: UniqueState, out: OutputEmitter): void {
    out.emit(s.values.size);
  },
  save: (s: UniqueState): Json => [...s.values],
  load(data: Json): UniqueState {
    const s = new UniqueState();
    for (const v of asArray(data)) s.values.add(asNumber(v));
    return s;
  },
};
