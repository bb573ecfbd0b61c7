import { asArray, asNumber, asString, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/**
 * `rate_sum` / `rate_avg`: per input series, the average per-second increase
 * of a counter over the window, summed / averaged over the group's series
 * (vmagent's rate.go). For each series: increase = sum of the increases
 * between consecutive samples (counter resets handled as in `total`), over
 * the time from the series' last sample in its PREVIOUS window with samples
 * to its last sample in this one; a new series starts at its first sample.
 * A series with no elapsed time (one sample, new) does not count; a group in
 * which no series counts emits nothing. Series state is dropped after
 * `staleness_interval` without samples.
 */
class SeriesState {
  constructor(
    /** Timestamp of the series' last sample when its previous window was flushed. */
    public prevTs: number,
    public ts: number,
    public value: number,
  ) {}
}

class WindowRates {
  readonly increases = new Map<SeriesState, number>();
}

export function rateOutput(kind: "rate_sum" | "rate_avg"): AggregationOutput<WindowRates> {
  const isAvg = kind === "rate_avg";
  const states = new Map<string, SeriesState>();
  return {
    name: kind,
    ordered: true,
    init: () => new WindowRates(),
    update(w: WindowRates, value: number, ts: number, series: SeriesRef): void {
      const key = series.key;
      let st = states.get(key);
      if (st === undefined) {
        st = new SeriesState(ts, ts, value);
        states.set(key, st);
        w.increases.set(st, 0);
        return;
      }
      if (ts < st.ts) return; // out of order
      const inc = value >= st.value ? value - st.value : value;
      w.increases.set(st, (w.increases.get(st) ?? 0) + inc);
      st.ts = ts;
      st.value = value;
    },
    flush(w: WindowRates, out: OutputEmitter): void {
      let rate = 0;
      let n = 0;
      for (const [st, inc] of w.increases) {
        const seconds = (st.ts - st.prevTs) / 1000;
        if (seconds > 0) {
          rate += inc / seconds;
          n++;
        }
        st.prevTs = st.ts;
      }
      if (n === 0) return;
      out.emit(isAvg ? rate / n : rate);
    },
    expire(beforeTs: number): void {
      for (const [k, st] of states) if (st.ts <= beforeTs) states.delete(k);
    },
    snapshot(): Json {
      const rows: Json[] = [];
      for (const [k, st] of states) rows.push([k, st.prevTs, st.ts, st.value]);
      return rows;
    },
    restore(data: Json): void {
      states.clear();
      for (const row of asArray(data)) {
        const [k, prevTs, ts, value] = asArray(row);
        states.set(asString(k), new SeriesState(asNumber(prevTs), asNumber(ts), asNumber(value)));
      }
    },
  };
}
