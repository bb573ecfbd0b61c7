/**
 * The unit of data that flows through the pipeline.
 *
 * `labels` always holds `__name__`. Label objects are treated as immutable
 * once a sample leaves the decoder: a stage that changes labels builds a new
 * object, so a stage never sees another stage's edits.
 */
export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  /** float64 value; a Prometheus stale marker is NaN with bits 0x7ff0000000000002. */
  value: number;
  /** Unix epoch milliseconds (int64 in Remote-Write; always an integer here). */
  timestamp: number;
}

/** Canonical, order-independent identity of a label set: `name="value",...` sorted by name. */
export function seriesKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let key = "";
  for (const n of names) key += n + "=" + JSON.stringify(labels[n]) + ",";
  return key;
}

/** Metric-name rule of the Prometheus data model: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Label-name rule of the Prometheus data model: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Replaces every character a metric name may not hold with `_` (and prefixes `_` before a leading digit). */
export function sanitizeMetricName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  if (/^[0-9]/.test(out)) out = "_" + out;
  return out;
}

/** Replaces every character a label name may not hold with `_` (and prefixes `_` before a leading digit). */
export function sanitizeLabelName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_]/g, "_");
  if (/^[0-9]/.test(out)) out = "_" + out;
  return out;
}
