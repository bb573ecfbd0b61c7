import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Self-metrics of the ingest bounds (issue 10), declared with the rest of the
 * catalogue: every refusal counted with a `reason`, every bounded level a gauge.
 */
export function createLimitMetrics(r: Registry[]) {
  return {
    mqttRefused: new Counter({
      name: "edgegate_mqtt_refused_total",
      help: "MQTT connections closed or packets refused by a bound or a protocol rule, by reason (packet_too_large, malformed_packet, max_connections, slow_consumer, max_inflight_messages, wildcard_topic, invalid_topic, protocol_error).",
      labelNames: ["reason"],
      registers: r,
    }),
    mqttRateLimited: new Counter({ name: "edgegate_mqtt_rate_limited_total", help: "Times a client's socket was paused because it published above mqtt.message_rate_limit.", registers: r }),
    mqttRetainedRefused: new Counter({
      name: "edgegate_mqtt_retained_refused_total",
      help: "Retained messages not stored (the message itself was delivered), by reason (retain_unavailable, max_retained_messages, max_retained_bytes).",
      labelNames: ["reason"],
      registers: r,
    }),
    mqttRetainedMessages: new Gauge({ name: "edgegate_mqtt_retained_messages", help: "Retained messages held by the broker.", registers: r }),
    mqttRetainedBytes: new Gauge({ name: "edgegate_mqtt_retained_bytes", help: "Payload bytes of the retained messages held by the broker.", registers: r }),
    mqttQueuedMessages: new Gauge({ name: "edgegate_mqtt_queued_messages", help: "QoS 1/2 messages queued for persistent sessions, all clients.", registers: r }),
    mqttQueuedBytes: new Gauge({ name: "edgegate_mqtt_queued_bytes", help: "Payload bytes queued for persistent sessions, all clients.", registers: r }),
    mqttQueueDropped: new Counter({
      name: "edgegate_mqtt_queue_dropped_messages_total",
      help: "Messages dropped from a persistent session's queue (oldest first), by reason (max_queued_messages, max_queued_bytes).",
      labelNames: ["reason"],
      registers: r,
    }),
    mqttPersistentSessions: new Gauge({ name: "edgegate_mqtt_persistent_sessions", help: "Persistent sessions (clean_session=0 client ids, online or offline) kept by the broker (bounded by mqtt.max_persistent_sessions).", registers: r }),
    mqttSessionsRemoved: new Counter({
      name: "edgegate_mqtt_sessions_removed_total",
      help: "Offline persistent sessions removed with their subscriptions and queue, by reason (expired, max_persistent_sessions).",
      labelNames: ["reason"],
      registers: r,
    }),
    mqttSendBufferBytes: new Gauge({ name: "edgegate_mqtt_send_buffer_bytes", help: "Bytes written to connected clients and not yet read by them, all clients (each bounded by mqtt.max_queued_bytes).", registers: r }),
    aggregationGroupsOpen: new Gauge({ name: "edgegate_aggregation_groups_open", help: "Groups (output label sets) in open aggregation windows, all rules (bounded by limits.max_groups).", registers: r }),
    labelValuesReplaced: new Counter({
      name: "edgegate_ingest_label_values_replaced_total",
      help: "Label values whose characters were replaced by U+FFFD before the pipeline, by reason (invalid_utf16: a lone surrogate; control_character: C0/C1 controls, DEL, bidi overrides).",
      labelNames: ["reason"],
      registers: r,
    }),
  };
}
