/**
 * The `reason` labels of the ingest-bound counters (issue 10), one typed list
 * per counter like the drop reasons (drop-reasons.ts): the broker's callbacks
 * take these types, so a reason missing here does not compile, and every
 * listed reason is exported at 0 from the first scrape (known-labels.ts).
 * docs/drop-reasons.md documents each one; test/unit/drop-reasons.test.ts
 * keeps the two in step.
 */
export const MQTT_REFUSED_REASONS = {
  packet_too_large: "A packet's fixed header announced more than `mqtt.max_packet_size` bytes; the client is disconnected before the packet is buffered.",
  malformed_packet: "A packet's remaining-length field is longer than four bytes (MQTT 3.1.1 §2.2.3); the client is disconnected.",
  max_connections: "A connection beyond `mqtt.max_connections` was closed on accept.",
  slow_consumer: "A subscriber left more than `mqtt.max_queued_bytes` unread; it is disconnected so it cannot hold up other clients.",
  max_inflight_messages: "A client had more than `mqtt.max_inflight_messages` QoS 2 PUBLISHes awaiting PUBREL; it is disconnected.",
  wildcard_topic: "A PUBLISH topic held `+` or `#` (MQTT 3.1.1 §3.3.2); the client is disconnected.",
  invalid_topic: "A topic was empty or had too many levels; the client is disconnected.",
  protocol_error: "Any other packet the broker's MQTT parser refused; the client is disconnected.",
} as const;
export type MqttRefusedReason = keyof typeof MQTT_REFUSED_REASONS;

export const MQTT_RETAINED_REFUSED_REASONS = {
  retain_unavailable: "`mqtt.retain_available: false`: the retain flag was ignored (the message was still delivered and decoded).",
  max_retained_messages: "A new retained topic beyond `mqtt.max_retained_messages` was not stored.",
  max_retained_bytes: "A retained message that would exceed `mqtt.max_retained_bytes` was not stored.",
} as const;
export type MqttRetainedRefusedReason = keyof typeof MQTT_RETAINED_REFUSED_REASONS;

export const MQTT_QUEUE_DROPPED_REASONS = {
  max_queued_messages: "The oldest message of a persistent session's queue, dropped beyond `mqtt.max_queued_messages`.",
  max_queued_bytes: "The oldest message of a persistent session's queue, dropped beyond `mqtt.max_queued_bytes`.",
} as const;
export type MqttQueueDroppedReason = keyof typeof MQTT_QUEUE_DROPPED_REASONS;

export const MQTT_SESSION_REMOVED_REASONS = {
  expired: "An offline persistent session not reconnected within `mqtt.persistent_client_expiration` was removed with its subscriptions and queue.",
  max_persistent_sessions: "The persistent session offline the longest was removed (with its subscriptions and queue) to stay within `mqtt.max_persistent_sessions`.",
} as const;
export type MqttSessionRemovedReason = keyof typeof MQTT_SESSION_REMOVED_REASONS;

export const LABEL_VALUE_REPLACED_REASONS = {
  invalid_utf16: "A label value held a lone UTF-16 surrogate (not encodable as UTF-8); replaced by U+FFFD.",
  control_character: "A label value held a C0/C1 control character, DEL or a bidirectional override; replaced by U+FFFD.",
} as const;
export type LabelValueReplacedReason = keyof typeof LABEL_VALUE_REPLACED_REASONS;

/** Counter name → its reasons, for the docs test and known-labels. */
export const LIMIT_REASON_COUNTERS = {
  edgegate_mqtt_refused_total: MQTT_REFUSED_REASONS,
  edgegate_mqtt_retained_refused_total: MQTT_RETAINED_REFUSED_REASONS,
  edgegate_mqtt_queue_dropped_messages_total: MQTT_QUEUE_DROPPED_REASONS,
  edgegate_mqtt_sessions_removed_total: MQTT_SESSION_REMOVED_REASONS,
  edgegate_ingest_label_values_replaced_total: LABEL_VALUE_REPLACED_REASONS,
} as const;
