import type { Labels, Sample } from "../prom/sample.js";
import type { DropFn } from "../metrics/drop-reasons.js";
import type { LabelValueReplacedReason } from "../metrics/limit-reasons.js";

/**
 * The last check of every decoded sample before it enters the pipeline, shared
 * by every way in (MQTT, HTTP push): the sample-timestamp window and the label
 * value characters. One far-future sample used to move an aggregation's
 * high-water mark (and Prometheus's head) to the year 3000, after which every
 * later sample of every device was refused; one lone surrogate in a label
 * value was encoded as invalid UTF-8, and the receiver refused the whole batch
 * with every other device's samples in it (issue 10).
 */
export interface SampleGuardOptions {
  /** Newest accepted timestamp = now + this (ms). */
  maxFutureSkewMs: number;
  /** Oldest accepted timestamp = now − this (ms); 0 = no bound. */
  maxSampleAgeMs: number;
  /** Samples dropped, by reason (too_far_in_future, too_old, invalid_timestamp). */
  onDrop: DropFn;
  /** Label values whose characters were replaced (by U+FFFD), by reason (invalid_utf16, control_character). */
  onReplace: (reason: LabelValueReplacedReason, values: number) => void;
}

/**
 * Largest timestamp a Remote-Write int64 millisecond field carries exactly in a
 * JS number; beyond it (e.g. `ts: 1e300`) protobufjs wraps the value and the
 * sample used to be sent at timestamp 0.
 */
const MAX_TIMESTAMP_MS = Number.MAX_SAFE_INTEGER;

/**
 * Characters a label value may not carry: C0 controls (NUL, newline, ...), DEL,
 * C1 controls, and the bidirectional overrides/isolates (U+202A–U+202E,
 * U+2066–U+2069) that make a dashboard show a different text than stored
 * ("Trojan Source"). Lone surrogates are matched separately.
 */
const BAD_CHAR_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Fast pre-check: does the value hold any character either regex could match? */
const SUSPECT_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/;

export const REPLACEMENT_CHARACTER = "\ufffd";

/**
 * Returns `value` with lone surrogates and control characters replaced by
 * U+FFFD, or `value` itself when it is clean (the common case costs one regex
 * test). `hits` receives what was replaced.
 */
export function sanitizeLabelValue(value: string, hits?: { invalidUtf16: number; control: number }): string {
  if (!SUSPECT_RE.test(value)) return value;
  let out = value;
  if (LONE_SURROGATE_RE.test(out)) {
    LONE_SURROGATE_RE.lastIndex = 0;
    out = out.replace(LONE_SURROGATE_RE, REPLACEMENT_CHARACTER);
    if (hits) hits.invalidUtf16++;
  }
  LONE_SURROGATE_RE.lastIndex = 0;
  if (BAD_CHAR_RE.test(out)) {
    BAD_CHAR_RE.lastIndex = 0;
    out = out.replace(BAD_CHAR_RE, REPLACEMENT_CHARACTER);
    if (hits) hits.control++;
  }
  BAD_CHAR_RE.lastIndex = 0;
  return out;
}

export class SampleGuard {
  private readonly hits = { invalidUtf16: 0, control: 0 };

  constructor(private readonly opts: SampleGuardOptions) {}

  /**
   * Filters `batch` in place: drops samples outside [now − max_sample_age,
   * now + max_future_skew] or with a timestamp no int64 millisecond field can
   * hold, and replaces bad characters in label values (a new label object; the
   * decoder's is never edited). Counts both. Returns the batch.
   */
  apply(batch: Sample[], nowMs: number): Sample[] {
    const newest = nowMs + this.opts.maxFutureSkewMs;
    const oldest = this.opts.maxSampleAgeMs > 0 ? nowMs - this.opts.maxSampleAgeMs : -Infinity;
    let future = 0;
    let old = 0;
    let invalid = 0;
    let w = 0;
    for (let r = 0; r < batch.length; r++) {
      const s = batch[r]!;
      const ts = s.timestamp;
      if (!Number.isFinite(ts) || ts < 0 || ts > MAX_TIMESTAMP_MS || !Number.isInteger(ts)) {
        // Decoders already refuse these; a stage of tomorrow may not.
        if (Number.isFinite(ts) && ts > newest) future++;
        else invalid++;
        continue;
      }
      if (ts > newest) {
        future++;
        continue;
      }
      if (ts < oldest) {
        old++;
        continue;
      }
      s.labels = this.cleanLabels(s.labels);
      batch[w++] = s;
    }
    batch.length = w;
    if (future > 0) this.opts.onDrop("too_far_in_future", future);
    if (old > 0) this.opts.onDrop("too_old", old);
    if (invalid > 0) this.opts.onDrop("invalid_timestamp", invalid);
    const h = this.hits;
    if (h.invalidUtf16 > 0) this.opts.onReplace("invalid_utf16", h.invalidUtf16);
    if (h.control > 0) this.opts.onReplace("control_character", h.control);
    h.invalidUtf16 = 0;
    h.control = 0;
    return batch;
  }

  /**
   * The last label object found clean. The samples of one message share all
   * label values but the metric name, so a value equal to that object's is
   * known clean without its regex test (was one test per label per sample).
   */
  private lastClean: Labels | null = null;

  private cleanLabels(labels: Labels): Labels {
    let copy: Labels | null = null;
    const last = this.lastClean;
    for (const name in labels) {
      const v = labels[name]!;
      if (last !== null && last[name] === v) continue;
      const clean = sanitizeLabelValue(v, this.hits);
      if (clean !== v) {
        copy ??= { ...labels };
        copy[name] = clean;
      }
    }
    if (copy !== null) return copy;
    this.lastClean = labels;
    return labels;
  }
}
