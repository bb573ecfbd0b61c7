import type { LimitsConfig } from "../config/schema-limits.js";
import type { Sample } from "../prom/sample.js";
import type { Stage } from "./stage.js";
import type { DropFn } from "../metrics/drop-reasons.js";
import { ActiveSeries } from "./active-series.js";
import { decodedHashes, seriesHashes } from "../prom/series-hash.js";

export type { DropFn } from "../metrics/drop-reasons.js";

/**
 * Cardinality limiter (`limits`, `topics[].limits`).
 *
 * "Series beyond the limit", over time: the limiter keeps the set of ACTIVE
 * series with the wall-clock time each was last seen. A sample of an active
 * series always passes and refreshes it; a sample of a new series passes only
 * while fewer than `max_series` are active once those not seen for
 * `series_ttl` have expired, else it is dropped (`series_limit`). So series
 * already flowing are never cut off by newcomers, and a burst of new series
 * stops blocking others `series_ttl` after it went quiet.
 *
 * The set (active-series.ts) is kept in least-recently-seen order, so expiry
 * only looks at its head: O(expired), not O(series).
 */
const ADMITTED = 0;
const TOO_LONG = 1;
const OVER_LIMIT = 2;
type Verdict = typeof ADMITTED | typeof TOO_LONG | typeof OVER_LIMIT;

export class LimitsStage implements Stage {
  readonly name = "limits";
  private readonly maxSeries: number;
  private readonly ttlMs: number;
  private readonly maxValueLength: number;
  private readonly active = new ActiveSeries();

  constructor(config: LimitsConfig, private readonly onDrop: DropFn) {
    this.maxSeries = config.max_series;
    this.ttlMs = config.series_ttl;
    this.maxValueLength = config.max_label_value_length;
  }

  /** True when this limiter never drops anything (it can be left out of the pipeline). */
  get disabled(): boolean {
    return this.maxSeries === 0 && this.maxValueLength === 0;
  }

  /** Series currently counted towards max_series (for the edgegate_limits_series_active gauge). */
  activeSeries(): number {
    return this.active.size;
  }

  process(batch: Sample[], nowMs: number): Sample[] {
    if (this.disabled) return batch;
    // The batch itself goes on while nothing is dropped (the common case): no copy per batch.
    let out: Sample[] | null = null;
    let tooLong = 0;
    let overLimit = 0;
    if (this.maxSeries > 0) seriesHashes.begin();
    for (let i = 0; i < batch.length; i++) {
      const s = batch[i]!;
      let drop = false;
      if (this.maxSeries > 0) {
        // A known series passed the value-length check when it was admitted (same labels,
        // same lengths): one walk over the labels (hash + longest value) decides both.
        const verdict = decodedHashes.find(s.labels, i) ? this.admitHashed(s.labels, decodedHashes.hash, decodedHashes.size, nowMs) : this.admit(s.labels, nowMs);
        // Aggregation keys its series by the same hash: handed over, not computed again.
        seriesHashes.record(s.labels, this.active.lastHash, this.active.lastSize);
        if (verdict === TOO_LONG) tooLong++;
        else if (verdict === OVER_LIMIT) overLimit++;
        drop = verdict !== ADMITTED;
      } else if (this.hasLongValue(s)) {
        tooLong++;
        drop = true;
      }
      if (drop) out ??= batch.slice(0, i);
      else if (out !== null) out.push(s);
    }
    if (tooLong > 0) this.onDrop("label_value_too_long", tooLong);
    if (overLimit > 0) this.onDrop("series_limit", overLimit);
    return out ?? batch;
  }

  /** Expires series not seen for series_ttl (also called on the pipeline's flush timer). */
  flush(nowMs: number): Sample[] {
    this.expire(nowMs);
    return [];
  }

  private hasLongValue(s: Sample): boolean {
    if (this.maxValueLength === 0) return false;
    for (const k in s.labels) if (s.labels[k]!.length > this.maxValueLength) return true;
    return false;
  }

  private admit(labels: Sample["labels"], nowMs: number): Verdict {
    // A known series passes (its last-seen time refreshed at most once a second: refreshing
    // on every sample was most of the limiter's cost; expiry is off by under a second).
    if (this.active.touch(labels, nowMs, 1000)) return ADMITTED;
    if (this.maxValueLength > 0 && this.active.lastLongestValue > this.maxValueLength) return TOO_LONG;
    if (this.active.size >= this.maxSeries) this.expire(nowMs);
    if (this.active.size >= this.maxSeries) return OVER_LIMIT;
    this.active.add(labels, nowMs);
    return ADMITTED;
  }

  /** `admit` for labels the decoder hashed: a new series' longest value is measured here (new series are rare). */
  private admitHashed(labels: Sample["labels"], hash: number, size: number, nowMs: number): Verdict {
    if (this.active.touchHashed(labels, hash, size, nowMs, 1000)) return ADMITTED;
    if (this.maxValueLength > 0) {
      for (const k in labels) if (labels[k]!.length > this.maxValueLength) return TOO_LONG;
    }
    if (this.active.size >= this.maxSeries) this.expire(nowMs);
    if (this.active.size >= this.maxSeries) return OVER_LIMIT;
    this.active.add(labels, nowMs);
    return ADMITTED;
  }

  private expire(nowMs: number): void {
    this.active.expire(nowMs - this.ttlMs);
  }
}
