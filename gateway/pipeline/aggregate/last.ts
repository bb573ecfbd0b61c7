import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/**
 * `last`: the value with the latest timestamp in the window — not the last
 * to arrive, since devices may deliver out of order (event time). On equal
 * timestamps the later arrival wins.
 */
class LastState {
  value = NaN;
  timestamp = -Infinity;
}

export const last: AggregationOutput<LastState> = {
  name: "last",
  init: () => new LastState(),
  update(s: LastState, value: number, timestamp: number): void {
    if (timestamp >= s.timestamp) {
      s.value = value;
      s.timestamp = timestamp;
    }
  },
  flush(s: LastState, out: OutputEmitter): void {
    out.emit(s.value);
  },
  save: (s: LastState): Json => [s.value, s.timestamp],
  load(data: Json): LastState {
    const [value, timestamp] = asArray(data);
    const s = new LastState();
    s.value = asNumber(value);
    s.timestamp = asNumber(timestamp);
    return s;
  },
};
