import type { LimitsConfig } from "../config/schema-limits.js";
import type { Sample } from "../prom/sample.js";
import type { Stage } from "./stage.js";
import type { DropFn } from "../metrics/drop-reasons.js";

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
 * The set is a Map in least-recently-seen order (a refresh re-inserts the
 * key), so expiry only looks at its head: O(expired), not O(series).
 */
/**
 * The limiter's identity of a series: names and values in the label object's
 * own order, unsorted. seriesKey()'s sort and JSON quoting made the limiter,
 * on by default since issue 10, cost ~4× the whole decode+aggregate pipeline
 * (bench: 154k → 36k msg/s); this key costs a few string appends. A series
 * always arrives with its labels in one order (decoders and stages build them
 * deterministically), so it is counted once; were one series ever seen in two
 * orders it would count twice, which errs on the safe side of the limit.
 * `\u0000`/`\u0001` cannot forge a boundary: label names never contain them,
 * and a value's own NUL is replaced at ingest.
 */
function limiterKey(labels: Record<string, string>): string {
  let key = "";
  for (const n in labels) key += n + "\u0001" + labels[n] + "\u0000";
  return key;
}

export class LimitsStage implements Stage {
  readonly name = "limits";
  private readonly maxSeries: number;
  private readonly ttlMs: number;
  private readonly maxValueLength: number;
  private readonly lastSeen = new Map<string, number>();

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
    return this.lastSeen.size;
  }

  process(batch: Sample[], nowMs: number): Sample[] {
    if (this.disabled) return batch;
    const out: Sample[] = [];
    let tooLong = 0;
    let overLimit = 0;
    for (let i = 0; i < batch.length; i++) {
      const s = batch[i]!;
      if (this.maxValueLength > 0 && this.hasLongValue(s)) {
        tooLong++;
        continue;
      }
      if (this.maxSeries > 0 && !this.admit(limiterKey(s.labels), nowMs)) {
        overLimit++;
        continue;
      }
      out.push(s);
    }
    if (tooLong > 0) this.onDrop("label_value_too_long", tooLong);
    if (overLimit > 0) this.onDrop("series_limit", overLimit);
    return out;
  }

  /** Expires series not seen for series_ttl (also called on the pipeline's flush timer). */
  flush(nowMs: number): Sample[] {
    this.expire(nowMs);
    return [];
  }

  private hasLongValue(s: Sample): boolean {
    for (const k in s.labels) if (s.labels[k]!.length > this.maxValueLength) return true;
    return false;
  }

  private admit(key: string, nowMs: number): boolean {
    const seen = this.lastSeen.get(key);
    if (seen !== undefined) {
      // Re-insert (keeps the Map in last-seen order) at most once a second per series: a
      // delete+set per sample was most of the limiter's cost; expiry is off by under a second.
      if (nowMs - seen >= 1000) {
        this.lastSeen.delete(key);
        this.lastSeen.set(key, nowMs);
      }
      return true;
    }
    if (this.lastSeen.size >= this.maxSeries) this.expire(nowMs);
    if (this.lastSeen.size >= this.maxSeries) return false;
    this.lastSeen.set(key, nowMs);
    return true;
  }

  private expire(nowMs: number): void {
    const cutoff = nowMs - this.ttlMs;
    for (const [key, seen] of this.lastSeen) {
      if (seen > cutoff) break;
      this.lastSeen.delete(key);
    }
  }
}
