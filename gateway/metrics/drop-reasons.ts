/**
 * Every reason edgegate drops data for, in one typed list: the `reason` label
 * of `edgegate_ingest_messages_dropped_total` (`counter: "messages"`) and of
 * `edgegate_samples_dropped_total` (`counter: "samples"`). Drop callbacks take
 * a `DropReason`, so a reason missing here does not compile; docs/drop-reasons.md
 * documents each one and test/unit/drop-reasons.test.ts fails when a reason
 * used in the code is missing here or there (as fastify checks its FST_ERR codes).
 */
export const DROP_REASONS = {
  // ingest: a whole message, before decoding
  no_topic_rule: { counter: "messages", stage: "ingest", help: "No topic rule's template matches the message's topic." },
  payload_too_large: { counter: "messages", stage: "ingest", help: "The payload is larger than `mqtt.max_payload_bytes`." },
  internal_error: { counter: "messages", stage: "ingest", help: "Processing the message threw (a bug); logged with the topic, the broker keeps serving." },
  storage_full: { counter: "messages", stage: "ingest", help: "Refused while the storage is full (the journal cannot commit): no PUBACK, so a QoS 1/2 device keeps the message and sends it again; QoS 0 messages are lost." },
  journal_write_failed: { counter: "messages", stage: "ingest", help: "The ingest journal's commit failed for another reason than a full disk: not acknowledged, a QoS 1/2 device sends it again; logged." },
  // decoding a payload
  invalid_json: { counter: "samples", stage: "ingest", help: "A `format: json` payload is not valid JSON (counted once per message)." },
  invalid_protobuf: { counter: "samples", stage: "ingest", help: "A `format: protobuf` payload is not a valid TelemetryBatch (once per message)." },
  invalid_payload: { counter: "samples", stage: "ingest", help: "A JSON payload, or an element of a JSON array, is not an object." },
  invalid_timestamp: { counter: "samples", stage: "ingest, aggregate", help: "The `timestamp_field` is neither epoch milliseconds nor RFC 3339 (the whole reading is dropped); in aggregation, a sample whose timestamp is not a finite number." },
  no_samples: { counter: "samples", stage: "ingest", help: "A reading (or protobuf batch) held no field that could become a sample." },
  invalid_value: { counter: "samples", stage: "ingest", help: "A numeric field is NaN or infinite." },
  too_deeply_nested: { counter: "samples", stage: "ingest", help: "A nested object deeper than 8 levels." },
  non_numeric_field: { counter: "samples", stage: "ingest", help: "A field that is neither a number, a boolean, a nested object nor a `label_fields` entry (strings, null, arrays)." },
  invalid_metric_name: { counter: "samples", stage: "ingest", help: "`metric_prefix` + field path does not make a valid Prometheus metric name even after sanitising." },
  too_far_in_future: { counter: "samples", stage: "ingest", help: "The sample's timestamp is later than the gateway clock plus `ingest.max_future_skew` (or beyond what an int64 millisecond field holds); also the samples of aggregation windows restored from a checkpoint that lie beyond that bound." },
  too_old: { counter: "samples", stage: "ingest", help: "The sample's timestamp is earlier than the gateway clock minus `ingest.max_sample_age`." },
  // pipeline stages
  relabel_drop: { counter: "samples", stage: "relabel", help: "Dropped by keep/drop/keepequal/dropequal in a topic's or the global `relabel_configs` (a deliberate filter, still counted)." },
  relabel_invalid_metric_name: { counter: "samples", stage: "relabel", help: "Relabelling left a series without a valid `__name__`." },
  derive_missing_signal: { counter: "samples", stage: "derive", help: "A `derive` expression refers to a signal the message does not carry." },
  derive_division_by_zero: { counter: "samples", stage: "derive", help: "A `derive` expression divided (or took `%`) by zero." },
  derive_non_finite: { counter: "samples", stage: "derive", help: "A `derive` expression evaluated to NaN or ±Inf." },
  series_limit: { counter: "samples", stage: "limits", help: "A new series beyond `limits.max_series` (a topic's or the global limiter)." },
  label_value_too_long: { counter: "samples", stage: "limits", help: "A label value longer than `limits.max_label_value_length`." },
  too_late: { counter: "samples", stage: "aggregate", help: "The sample's window was already flushed (its end plus `allowed_lateness` has passed); never merged into another window." },
  unmatched: { counter: "samples", stage: "aggregate", help: "No aggregation rule matched and `forward_unmatched` is false." },
  window_limit: { counter: "samples", stage: "aggregate", help: "The sample would open one more aggregation window beyond `limits.max_open_windows` (all rules together)." },
  group_limit: { counter: "samples", stage: "aggregate", help: "The sample would start one more group in open aggregation windows beyond `limits.max_groups` (all rules together)." },
  shutdown_unflushed: { counter: "samples", stage: "aggregate", help: "An open window at shutdown of a rule with `flush_on_shutdown: false`." },
  output_relabel_drop: { counter: "samples", stage: "aggregate", help: "An output series dropped by the rule's `output_relabel_configs`." },
  // remote-write batching and the outbox
  write_relabel_drop: { counter: "samples", stage: "remote-write", help: "Dropped by a target's `write_relabel_configs` (counted per target that drops it)." },
  missing_metric_name: { counter: "samples", stage: "remote-write", help: "A sample without `__name__` (or with a non-finite timestamp) reached encoding." },
  duplicate: { counter: "samples", stage: "aggregate, remote-write", help: "Same series and timestamp as a sample already accepted (a device's re-send after a lost PUBACK, a journal replay): counted once, as Prometheus stores it once. Counted where it is found, once: in an aggregation window (the first arrival counts), at the order guard against the last committed sample, or as two samples of one series at one timestamp in one flush (there the last value wins)." },
  out_of_order: { counter: "samples", stage: "remote-write", help: "Not newer than the last sample committed for its series: Remote-Write requires per-series time order, and a receiver refuses a whole request for one such sample." },
  outbox_write_failed: { counter: "samples", stage: "outbox", help: "The outbox commit failed (e.g. disk full); logged, ingest keeps running." },
  evicted_size: { counter: "samples", stage: "outbox", help: "Evicted, oldest first, because the outbox reached `storage.max_bytes`." },
  evicted_age: { counter: "samples", stage: "outbox", help: "Evicted because it waited longer than `storage.max_age`." },
} as const satisfies Record<string, { counter: "messages" | "samples"; stage: string; help: string }>;

export type DropReason = keyof typeof DROP_REASONS;

/** Reasons counted in edgegate_ingest_messages_dropped_total. */
export type MessageDropReason = { [K in DropReason]: (typeof DROP_REASONS)[K]["counter"] extends "messages" ? K : never }[DropReason];

/** How a stage reports dropped samples: one call per batch and reason. */
export type DropFn = (reason: DropReason, samples: number) => void;
