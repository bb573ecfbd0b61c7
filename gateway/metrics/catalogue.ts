import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { createLimitMetrics } from "./limits-catalogue.js";
import { registerBuildInfo } from "./build-info.js";

/**
 * edgegate's self-metrics, declared once and named
 * `edgegate_<area>_<thing>_<unit>[_total]` (Prometheus naming: base units,
 * `_total` counters), so dashboards can find a metric from its area.
 * Every branch that drops, refuses, retries or evicts increments a counter with a `reason` label.
 *
 * One `Metrics` object per gateway instance (its own Registry), so tests can run
 * several gateways in one process without sharing counters.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  // Standard names (process_*, nodejs_*), no prefix: stock Node.js dashboards and alerts find them.
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
  registerBuildInfo(registry);
  const r = [registry];
  return {
    registry,
    mqttClientsConnected: new Gauge({ name: "edgegate_mqtt_clients_connected", help: "MQTT clients currently connected to the embedded broker.", registers: r }),
    mqttMessagesReceived: new Counter({ name: "edgegate_mqtt_messages_received_total", help: "MQTT PUBLISH packets received from clients.", registers: r }),
    mqttBytesReceived: new Counter({ name: "edgegate_mqtt_received_bytes_total", help: "MQTT payload bytes received from clients.", registers: r }),
    messagesDropped: new Counter({ name: "edgegate_ingest_messages_dropped_total", help: "Messages dropped before decoding, by reason.", labelNames: ["reason"], registers: r }),
    samplesIn: new Counter({ name: "edgegate_ingest_samples_total", help: "Samples decoded from device messages (samples in).", registers: r }),
    samplesDropped: new Counter({ name: "edgegate_samples_dropped_total", help: "Samples dropped anywhere in the pipeline, by reason.", labelNames: ["reason"], registers: r }),
    seriesActive: new Gauge({ name: "edgegate_pipeline_series_active", help: "Series (input series of open aggregation windows plus series seen by the forwarder in the last flush interval).", registers: r }),
    windowsOpen: new Gauge({ name: "edgegate_aggregation_windows_open", help: "Aggregation windows currently open.", registers: r }),
    samplesOut: new Counter({ name: "edgegate_outbox_samples_written_total", help: "Samples committed to the outbox (samples out of the pipeline), per target.", labelNames: ["target"], registers: r }),
    outboxRows: new Gauge({ name: "edgegate_outbox_rows", help: "Batches waiting in the outbox, per target.", labelNames: ["target"], registers: r }),
    outboxBytes: new Gauge({ name: "edgegate_outbox_bytes", help: "Encoded bytes waiting in the outbox, per target.", labelNames: ["target"], registers: r }),
    outboxOldestAge: new Gauge({ name: "edgegate_outbox_oldest_age_seconds", help: "Age of the oldest batch waiting in the outbox, per target.", labelNames: ["target"], registers: r }),
    outboxDeadLetters: new Gauge({ name: "edgegate_outbox_dead_letter_rows", help: "Batches set aside in the dead-letter table, per target.", labelNames: ["target"], registers: r }),
    outboxEvicted: new Counter({ name: "edgegate_outbox_evicted_samples_total", help: "Samples evicted from the outbox by storage.max_bytes / storage.max_age before delivery, by target and reason (evicted_size, evicted_age).", labelNames: ["target", "reason"], registers: r }),
    outboxUncleanStart: new Gauge({ name: "edgegate_outbox_unclean_shutdown_detected", help: "1 when this run found that the previous one did not close the outbox (kill -9, crash, power cut).", registers: r }),
    rwRequests: new Counter({ name: "edgegate_remote_write_requests_total", help: "Remote-Write requests by target and HTTP status code (`code=\"error\"` for network errors).", labelNames: ["target", "code"], registers: r }),
    rwSamplesSent: new Counter({ name: "edgegate_remote_write_samples_sent_total", help: "Samples acknowledged (2xx) by the receiver, per target.", labelNames: ["target"], registers: r }),
    rwBytesSent: new Counter({ name: "edgegate_remote_write_sent_bytes_total", help: "Compressed request bytes acknowledged by the receiver, per target.", labelNames: ["target"], registers: r }),
    rwRetries: new Counter({ name: "edgegate_remote_write_retries_total", help: "Remote-Write attempts that will be retried, by target and reason.", labelNames: ["target", "reason"], registers: r }),
    rwDeadLettered: new Counter({ name: "edgegate_remote_write_dead_lettered_samples_total", help: "Samples moved to the dead-letter table instead of being delivered, by target and reason.", labelNames: ["target", "reason"], registers: r }),
    rwDuration: new Histogram({ name: "edgegate_remote_write_request_duration_seconds", help: "Remote-Write request latency, per target.", labelNames: ["target"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    rwLastSuccess: new Gauge({ name: "edgegate_remote_write_last_success_timestamp_seconds", help: "Unix time of the last 2xx from the target.", labelNames: ["target"], registers: r }),
    rwReplayLag: new Gauge({ name: "edgegate_remote_write_replay_lag_seconds", help: "How far behind real time delivery is: age of the batch acknowledged last (0 when the queue is empty), per target.", labelNames: ["target"], registers: r }),
    rwResends: new Counter({ name: "edgegate_remote_write_resends_total", help: "Batches sent again after an unanswered attempt (reset, timeout, kill -9) that may have been stored: result=\"accepted\" (exact duplicates) or \"refused_as_stored\" (400 out of order, taken as delivered).", labelNames: ["target", "result"], registers: r }),
    enrichMisses: new Counter({ name: "edgegate_enrich_misses_total", help: "Samples whose key label value is not in the device registry (they get the registry's defaults), per registry.", labelNames: ["registry"], registers: r }),
    enrichReloads: new Counter({ name: "edgegate_enrich_reloads_total", help: "Device registry loads, per registry and result (success, failure; a failure keeps the previous data).", labelNames: ["registry", "result"], registers: r }),
    enrichEntries: new Gauge({ name: "edgegate_enrich_registry_entries", help: "Keys currently loaded in the device registry, per registry.", labelNames: ["registry"], registers: r }),
    limitsSeriesActive: new Gauge({ name: "edgegate_limits_series_active", help: "Series counted towards a cardinality limit (limits.max_series), per scope (global, topics[i]).", labelNames: ["scope"], registers: r }),
    staleMarkers: new Counter({ name: "edgegate_aggregation_stale_markers_total", help: "Stale markers sent for aggregated output series that stopped (staleness_interval).", registers: r }),
    checkpoints: new Counter({ name: "edgegate_aggregation_checkpoints_total", help: "Checkpoints of the aggregation state written to the outbox file, by result (success, failure).", labelNames: ["result"], registers: r }),
    checkpointBytes: new Gauge({ name: "edgegate_aggregation_checkpoint_bytes", help: "Size of the last aggregation checkpoint in bytes (its row, and the blob it refers to when written off the event loop).", registers: r }),
    journalRows: new Gauge({ name: "edgegate_ingest_journal_rows", help: "Accepted messages in the ingest journal not yet covered by a checkpoint (replayed after a crash).", registers: r }),
    journalBytes: new Gauge({ name: "edgegate_ingest_journal_bytes", help: "Bytes (payload, topic, client id) in the ingest journal; counted in storage.max_bytes with the outbox.", registers: r }),
    storageFull: new Gauge({ name: "edgegate_storage_full", help: "1 while a commit failed for lack of space: publishes are refused (no PUBACK) and /-/ready answers 503 until space is free.", registers: r }),
    storageFullEvents: new Counter({ name: "edgegate_storage_full_events_total", help: "Times the storage became full (a commit failed with SQLITE_FULL / ENOSPC).", registers: r }),
    checkpointDuration: new Gauge({ name: "edgegate_aggregation_checkpoint_duration_seconds", help: "Time the last aggregation checkpoint took (serialise + commit).", registers: r }),
    mqttAuthRefusals: new Counter({ name: "edgegate_mqtt_auth_refusals_total", help: "MQTT CONNECTs refused, by reason (bad_credentials, anonymous_not_allowed, identifier_rejected, client_id_in_use).", labelNames: ["reason"], registers: r }),
    mqttAclRefusals: new Counter({ name: "edgegate_mqtt_acl_refusals_total", help: "Publishes, subscriptions and deliveries refused by the ACL, by action (publish, subscribe, read) and reason (acl_deny, acl_no_match, dangerous_identity, reserved_topic).", labelNames: ["action", "reason"], registers: r }),
    authFileReloads: new Counter({ name: "edgegate_auth_file_reloads_total", help: "Loads of mqtt.auth.password_file and acl_file, by file (password_file, acl_file) and result (success, failure; a failure keeps the previous data).", labelNames: ["file", "result"], registers: r }),
    httpAuthRefusals: new Counter({ name: "edgegate_http_auth_refusals_total", help: "HTTP requests refused for lack of valid basic-auth credentials or client certificate, by reason.", labelNames: ["reason"], registers: r }),
    pushRequests: new Counter({ name: "edgegate_http_push_requests_total", help: "POST /api/v1/push requests, by HTTP status code.", labelNames: ["code"], registers: r }),
    ...createLimitMetrics(r),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
