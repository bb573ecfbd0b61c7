import { asArray, asNumber, asString, type AggregationOutput, type GroupContext, type Json, type OutputEmitter } from "./output.js";
import { BUCKET_COUNT, bucketOf, vmrange } from "./vmrange.js";

/**
 * `histogram_bucket`: VictoriaMetrics histogram buckets of the sample values,
 * one series per non-empty bucket with label `vmrange` (see vmrange.ts), as
 * vmagent's histogram_bucket.go. Like vmagent, the buckets are CUMULATIVE
 * over time (counters: a bucket never decreases while the group is alive),
 * so `histogram_quantile(0.9, sum(rate(x:1m_histogram_bucket[5m])) by (vmrange))`
 * works on them; the group's histogram is dropped after `staleness_interval`
 * without samples (its series then get stale markers and restart from 0).
 *
 * Event time: a window's counts are kept apart and added to the running
 * histogram only when the window is flushed (windows flush in order), so a
 * sample is never counted into an earlier window's output.
 */
class WindowCounts {
  readonly counts = new Map<number, number>();
}

class GroupHistogram {
  readonly counts = new Float64Array(BUCKET_COUNT);
  lastEnd = 0;
}

/** Emission order of VictoriaMetrics' VisitNonZeroBuckets: zeros, below range, finite buckets ascending, above range. */
const ORDER: number[] = [0, 1];
for (let id = 3; id < BUCKET_COUNT; id++) ORDER.push(id);
ORDER.push(2);

export function histogramBucket(): AggregationOutput<WindowCounts> {
  const groups = new Map<string, GroupHistogram>();
  return {
    name: "histogram_bucket",
    init: () => new WindowCounts(),
    update(s: WindowCounts, value: number): void {
      const id = bucketOf(value);
      if (id >= 0) s.counts.set(id, (s.counts.get(id) ?? 0) + 1);
    },
    flush(s: WindowCounts, out: OutputEmitter, group: GroupContext): void {
      let h = groups.get(group.key);
      if (h === undefined) {
        h = new GroupHistogram();
        groups.set(group.key, h);
      }
      for (const [id, n] of s.counts) h.counts[id]! += n;
      h.lastEnd = group.end;
      for (const id of ORDER) {
        const n = h.counts[id]!;
        if (n > 0) out.emit(n, "vmrange", vmrange(id));
      }
    },
    save: (s: WindowCounts): Json => [...s.counts],
    load(data: Json): WindowCounts {
      const s = new WindowCounts();
      for (const row of asArray(data)) {
        const [id, n] = asArray(row);
        s.counts.set(asNumber(id), asNumber(n));
      }
      return s;
    },
    expire(beforeTs: number): void {
      for (const [key, h] of groups) if (h.lastEnd <= beforeTs) groups.delete(key);
    },
    snapshot(): Json {
      const rows: Json[] = [];
      for (const [key, h] of groups) {
        const counts: Json[] = [];
        h.counts.forEach((n, id) => {
          if (n > 0) counts.push([id, n]);
        });
        rows.push([key, h.lastEnd, counts]);
      }
      return rows;
    },
    restore(data: Json): void {
      groups.clear();
      for (const row of asArray(data)) {
        const [key, lastEnd, counts] = asArray(row);
        const h = new GroupHistogram();
        h.lastEnd = asNumber(lastEnd);
        for (const c of asArray(counts)) {
          const [id, n] = asArray(c);
          h.counts[asNumber(id)] = asNumber(n);
        }
        groups.set(asString(key), h);
      }
    },
  };
}
