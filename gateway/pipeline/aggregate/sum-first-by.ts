import { asArray, asNumber, asString, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/**
 * `sum_first_by(label)`: for each distinct value of `label` in the group's
 * window, the value of its FIRST sample by event timestamp (equal timestamps:
 * the earlier arrival), summed. The Flink demo's `warnings`: sum over
 * distinct vehicles of the measurement of that vehicle's first WARNINGS event
 * in the window (the demo takes the first to arrive; in event time the
 * earliest timestamp is the first, whatever the delivery order).
 * Samples without the label are not counted.
 */
class FirstState {
  readonly first = new Map<string, { ts: number; value: number }>();
}

export function sumFirstBy(label: string): AggregationOutput<FirstState> {
  return {
    name: "sum_first_by",
    init: () => new FirstState(),
    update(s: FirstState, value: number, ts: number, series: SeriesRef): void {
      const key = series.labels[label];
      if (typeof key !== "string" || key === "") return;
      const cur = s.first.get(key);
      if (cur === undefined) s.first.set(key, { ts, value });
      else if (ts < cur.ts) {
        cur.ts = ts;
        cur.value = value;
      }
    },
    flush(s: FirstState, out: OutputEmitter): void {
      let sum = 0;
      for (const f of s.first.values()) sum += f.value;
      out.emit(sum);
    },
    save(s: FirstState): Json {
      const rows: Json[] = [];
      for (const [k, f] of s.first) rows.push([k, f.ts, f.value]);
      return rows;
    },
    load(data: Json): FirstState {
      const s = new FirstState();
      for (const row of asArray(data)) {
        const [k, ts, value] = asArray(row);
        s.first.set(asString(k), { ts: asNumber(ts), value: asNumber(value) });
      }
      return s;
    },
  };
}
