import type { Labels, Sample } from "../../prom/sample.js";
import { STALE_NAN } from "../../prom/stale.js";
import { asArray, asNumber, asObject, asString, type Json } from "./output.js";

class Entry {
  constructor(
    public labels: Labels,
    public lastTs: number,
  ) {}
}

/**
 * Stale markers for output series that stopped (Remote-Write 1.0, "Stale
 * Markers": NaN with bits 0x7ff0000000000002, sent when a series will receive
 * no more samples). vmagent sends none for aggregates; a Prometheus query then
 * keeps showing the last value for 5 minutes (lookback) after a group died.
 *
 * An output series is stale once the rule's event-time frontier (wall clock
 * minus allowed_lateness: every window ending before it is closed for good)
 * passes its last sample by `staleness_interval`. The marker is stamped
 * `last + staleness_interval`: strictly after the series' last sample, and
 * at or before the frontier, so strictly before any sample the series may
 * get later (those come from windows ending after the frontier). Per-series
 * timestamps stay strictly increasing, as the outbox sink and the spec
 * require.
 */
export class StaleTracker {
  private readonly series = new Map<string, Entry>();
  /** A lower bound of the smallest lastTs: no sweep work before the frontier reaches it. */
  private earliest = Infinity;

  get size(): number {
    return this.series.size;
  }

  /** Records an emitted output sample (called per output sample, not per input sample). */
  seen(key: string, labels: Labels, ts: number): void {
    const e = this.series.get(key);
    if (e === undefined) this.series.set(key, new Entry(labels, ts));
    else if (ts > e.lastTs) {
      e.labels = labels;
      e.lastTs = ts;
    }
    if (ts < this.earliest) this.earliest = ts;
  }

  /** Appends a stale marker for every series whose last sample is at or before `frontier - stalenessMs`, and forgets them. */
  sweep(frontier: number, stalenessMs: number, out: Sample[]): number {
    const cutoff = frontier - stalenessMs;
    if (cutoff < this.earliest) return 0;
    let n = 0;
    let earliest = Infinity;
    for (const [key, e] of this.series) {
      if (e.lastTs <= cutoff) {
        out.push({ labels: e.labels, value: STALE_NAN, timestamp: e.lastTs + stalenessMs });
        this.series.delete(key);
        n++;
      } else if (e.lastTs < earliest) earliest = e.lastTs;
    }
    this.earliest = earliest;
    return n;
  }

  /** Forgets series whose last sample is after `limitMs` (restored from a checkpoint with a future clock); true if any. */
  clampFuture(limitMs: number): boolean {
    let any = false;
    for (const [key, e] of this.series) {
      if (e.lastTs > limitMs) {
        this.series.delete(key);
        any = true;
      }
    }
    return any;
  }

  snapshot(): Json {
    const rows: Json[] = [];
    for (const [key, e] of this.series) rows.push([key, e.labels, e.lastTs]);
    return rows;
  }

  restore(data: Json): void {
    this.series.clear();
    this.earliest = Infinity;
    for (const row of asArray(data)) {
      const [key, labels, lastTs] = asArray(row);
      const l: Labels = {};
      for (const [k, v] of Object.entries(asObject(labels))) l[k] = asString(v);
      this.seen(asString(key), l, asNumber(lastTs));
    }
  }
}
