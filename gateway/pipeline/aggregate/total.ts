import { asArray, asNumber, asString, type AggregationOutput, type GroupContext, type Json, type OutputEmitter } from "./output.js";
import type { SeriesRef } from "./series.js";

/**
 * Counter outputs, as vmagent's total.go (one implementation, four outputs):
 *
 * - `total`: a running total of the counters' increases, never reset (except
 *   when the group goes stale, or when |total| reaches 2^53 and float64 starts
 *   losing precision — vmagent does the same). Counter resets are handled: a
 *   value lower than the previous one counts as an increase of the value itself.
 * - `increase`: the same increases, summed per window only.
 * - `total_prometheus` / `increase_prometheus`: the first sample of a new
 *   input series only sets the starting point (Prometheus' `increase()`
 *   semantics), whereas `total`/`increase` count it from 0.
 *
 * Event time: the rule replays each window's samples per series in timestamp
 * order (`ordered`), windows in order, so an increase is always measured
 * against the previous sample in EVENT time, across window boundaries.
 * A sample older than the series' previous one is skipped (as vmagent).
 * Per-series state is dropped after `staleness_interval` without samples.
 */
class SeriesLast {
  constructor(
    public ts: number,
    public value: number,
  ) {}
}

class GroupTotal {
  total = 0;
  lastEnd = 0;
}

class WindowSum {
  sum = 0;
}

export type TotalKind = "total" | "total_prometheus" | "increase" | "increase_prometheus";

const TWO_POW_53 = 2 ** 53;

export function totalOutput(kind: TotalKind): AggregationOutput<WindowSum> {
  const resetOnFlush = kind.startsWith("increase");
  const keepFirstSample = !kind.endsWith("_prometheus");
  const lasts = new Map<string, SeriesLast>();
  const groups = new Map<string, GroupTotal>();
  return {
    name: kind,
    ordered: true,
    init: () => new WindowSum(),
    update(s: WindowSum, value: number, ts: number, series: SeriesRef): void {
      const key = series.key;
      const last = lasts.get(key);
      if (last === undefined) {
        if (keepFirstSample) s.sum += value;
        lasts.set(key, new SeriesLast(ts, value));
        return;
      }
      if (ts < last.ts) return; // out of order (cannot happen after the sorted replay, but a counter must never go back)
      s.sum += value >= last.value ? value - last.value : value; // lower = counter reset: the new value is the increase
      last.ts = ts;
      last.value = value;
    },
    flush(s: WindowSum, out: OutputEmitter, group: GroupContext): void {
      if (resetOnFlush) {
        out.emit(s.sum);
        return;
      }
      let g = groups.get(group.key);
      if (g === undefined) {
        g = new GroupTotal();
        groups.set(group.key, g);
      }
      g.total += s.sum;
      g.lastEnd = group.end;
      out.emit(g.total);
      if (Math.abs(g.total) >= TWO_POW_53) g.total = 0;
    },
    expire(beforeTs: number): void {
      for (const [k, l] of lasts) if (l.ts <= beforeTs) lasts.delete(k);
      for (const [k, g] of groups) if (g.lastEnd <= beforeTs) groups.delete(k);
    },
    snapshot(): Json {
      const series: Json[] = [];
      for (const [k, l] of lasts) series.push([k, l.ts, l.value]);
      const totals: Json[] = [];
      for (const [k, g] of groups) totals.push([k, g.total, g.lastEnd]);
      return { series, totals };
    },
    restore(data: Json): void {
      lasts.clear();
      groups.clear();
      const d = data as { series?: Json; totals?: Json };
      for (const row of asArray(d.series ?? [])) {
        const [k, ts, value] = asArray(row);
        lasts.set(asString(k), new SeriesLast(asNumber(ts), asNumber(value)));
      }
      for (const row of asArray(d.totals ?? [])) {
        const [k, total, lastEnd] = asArray(row);
        const g = new GroupTotal();
        g.total = asNumber(total);
        g.lastEnd = asNumber(lastEnd);
        groups.set(asString(k), g);
      }
    },
  };
}
