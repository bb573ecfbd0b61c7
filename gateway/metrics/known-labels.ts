import type { Metrics } from "./catalogue.js";

/**
 * The label values edgegate can emit, so every labelled counter is exported at 0
 * from the first scrape. Without this, `rate(edgegate_samples_dropped_total[5m])`
 * has no series until the first drop and an alert on it can never see the rise
 * from 0 to 1 (Prometheus's own advice: initialise the label values you know).
 * A unit test scans the sources for every `onDrop("…")` / `reason: "…"` literal
 * and fails when one is missing here.
 */
export const SAMPLE_DROP_REASONS = [
  // decoders
  "invalid_json",
  "invalid_payload",
  "invalid_timestamp",
  "no_samples",
  "invalid_value",
  "too_deeply_nested",
  "non_numeric_field",
  "invalid_metric_name",
  "invalid_protobuf",
  // stages
  "relabel_invalid_metric_name",
  "derive_missing_signal",
  "derive_division_by_zero",
  "derive_non_finite",
  "label_value_too_long",
  "series_limit",
  "too_late",
  "unmatched",
  "shutdown_unflushed",
  "output_relabel_drop",
  // outbox
  "missing_metric_name",
  "outbox_write_failed",
  "out_of_order",
  "evicted_size",
  "evicted_age",
] as const;

export const MESSAGE_DROP_REASONS = ["no_topic_rule", "payload_too_large", "internal_error"] as const;
export const RETRY_REASONS = ["status_5xx", "status_429", "status_other", "network_error", "timeout", "auth_error"] as const;
export const DEAD_LETTER_REASONS = ["status_4xx", "max_retry_duration"] as const;
export const EVICTION_REASONS = ["evicted_size", "evicted_age"] as const;
export const RESEND_RESULTS = ["accepted", "refused_as_stored"] as const;
export const RESULTS = ["success", "failure"] as const;

/** Creates every known (label set) child at 0; `targets` are the configured target names, `registries` the enrich registry names. */
export function initKnownLabels(m: Metrics, targets: readonly string[], registries: readonly string[] = []): void {
  for (const reason of SAMPLE_DROP_REASONS) m.samplesDropped.inc({ reason }, 0);
  for (const reason of MESSAGE_DROP_REASONS) m.messagesDropped.inc({ reason }, 0);
  for (const result of RESULTS) m.checkpoints.inc({ result }, 0);
  for (const target of targets) {
    m.samplesOut.inc({ target }, 0);
    m.rwSamplesSent.inc({ target }, 0);
    m.rwBytesSent.inc({ target }, 0);
    // A network error is the one code every target can meet; HTTP codes appear as the receiver answers.
    m.rwRequests.inc({ target, code: "error" }, 0);
    for (const reason of RETRY_REASONS) m.rwRetries.inc({ target, reason }, 0);
    for (const reason of DEAD_LETTER_REASONS) m.rwDeadLettered.inc({ target, reason }, 0);
    for (const reason of EVICTION_REASONS) m.outboxEvicted.inc({ target, reason }, 0);
    for (const result of RESEND_RESULTS) m.rwResends.inc({ target, result }, 0);
  }
  for (const registry of registries) {
    m.enrichMisses.inc({ registry }, 0);
    for (const result of RESULTS) m.enrichReloads.inc({ registry, result }, 0);
  }
}
