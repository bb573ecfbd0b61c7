import { z } from "zod";
import { duration } from "./schema-common.js";
import { byteSize } from "./schema-storage.js";

/**
 * Bounds of the ingest side (issue 10: one bad client must not hurt the
 * others). Names follow mosquitto.conf where Mosquitto has the same knob
 * (max_packet_size, max_connections, max_inflight_messages,
 * max_queued_messages, max_queued_bytes, retain_available). Every limit has a
 * default that a Raspberry Pi survives, a gauge where there is a level, and a
 * counter with a `reason` for what it refuses (docs/limits.md).
 */
const count = (desc: string, dflt: number) => z.number().int().nonnegative().default(dflt).describe(desc);

/** Keys merged into the `mqtt` section. */
export const mqttLimitsShape = {
  max_packet_size: byteSize(
    "Largest MQTT packet (fixed header included) a client may send, in bytes. Checked on the packet's fixed header as it arrives, before the packet is buffered: a client announcing a larger one is disconnected (edgegate_mqtt_refused_total{reason=\"packet_too_large\"}). 0 = the MQTT maximum (256 MiB).",
  ).prefault("1MiB"),
  max_connections: count(
    "Most MQTT connections open at once; a connection beyond it is closed on accept (edgegate_mqtt_refused_total{reason=\"max_connections\"}). 0 = no limit.",
    10000,
  ),
  max_inflight_messages: count(
    "Per client: QoS 2 PUBLISH packets received and awaiting PUBREL; a client exceeding it is disconnected (reason=\"max_inflight_messages\"). (QoS 1 PUBLISHes of one client are handled one at a time; messages sent to a client and not yet acknowledged are bounded by max_queued_messages/max_queued_bytes, see docs/limits.md.) 0 = no limit.",
    100,
  ),
  max_queued_messages: count(
    "Per persistent session (clean_session=0): QoS 1/2 messages queued for the client (offline, or not yet acknowledged). Beyond it the oldest is dropped (edgegate_mqtt_queue_dropped_messages_total{reason=\"max_queued_messages\"}). 0 = no limit.",
    1000,
  ),
  max_queued_bytes: byteSize(
    "Per client: bytes of payload queued for a persistent session (beyond it the oldest message is dropped, reason=\"max_queued_bytes\"), and bytes written to a connected client that it has not read yet: a subscriber that stops reading is disconnected when this fills (edgegate_mqtt_refused_total{reason=\"slow_consumer\"}), so it never holds up other clients. 0 = no limit.",
  ).prefault("1MiB"),
  // A bare YAML `0` (never expire) is read as a number; accept it like the string "0".
  persistent_client_expiration: z.preprocess((v) => (v === 0 ? "0" : v), duration(
    "An offline persistent session (clean_session=0: its subscriptions, queue and QoS 2 state) whose client has not reconnected within this duration is removed, as Mosquitto's persistent_client_expiration (edgegate_mqtt_sessions_removed_total{reason=\"expired\"}); the client's next connect gets session_present=0. 0 = never.",
  ).prefault("7d")),
  max_persistent_sessions: count(
    "Most persistent sessions (clean_session=0 client ids, online or offline) kept by the broker. Beyond it the session offline the longest is removed (edgegate_mqtt_sessions_removed_total{reason=\"max_persistent_sessions\"}); sessions of connected clients are never removed. Gauge edgegate_mqtt_persistent_sessions. 0 = no limit.",
    10000,
  ),
  retain_available: z
    .boolean()
    .default(true)
    .describe("Keep retained messages. false: the retain flag of a PUBLISH is ignored (the message is still delivered and decoded) and counted (edgegate_mqtt_retained_refused_total{reason=\"retain_unavailable\"})."),
  max_retained_messages: count(
    "Most retained messages kept (one per topic); a new retained topic beyond it is not stored (reason=\"max_retained_messages\"), the message itself is still delivered and decoded. 0 = no limit.",
    1000,
  ),
  max_retained_bytes: byteSize(
    "Most payload bytes of retained messages kept; a retained message that would exceed it is not stored (reason=\"max_retained_bytes\"). 0 = no limit.",
  ).prefault("1MiB"),
  message_rate_limit: count(
    "Per client: PUBLISH packets per second (token bucket, burst = one second's worth). A client above it is not disconnected: its socket is not read until it is back under the rate, so TCP slows it down and nothing it sent is lost (edgegate_mqtt_rate_limited_total counts the pauses). 0 = no limit.",
    1000,
  ),
};

export const ingestSchema = z
  .strictObject({
    max_future_skew: duration(
      "Newest sample timestamp accepted, ahead of the gateway clock; a later one is dropped (edgegate_samples_dropped_total{reason=\"too_far_in_future\"}). Bounds the aggregation's open windows and keeps one bad clock from moving the receiver's head into the future.",
    ).prefault("5m"),
    max_sample_age: duration(
      "Oldest sample timestamp accepted, behind the gateway clock; an older one is dropped (reason=\"too_old\"). The default fits a telematics unit replaying a week offline and matches storage.max_age. 0 = no bound.",
    ).prefault("7d"),
  })
  .describe("Checks applied to every decoded sample (raw or aggregated) before the pipeline: the timestamp window; label values also have lone UTF-16 surrogates and control characters replaced by U+FFFD (edgegate_ingest_label_values_replaced_total).");

export type IngestConfig = z.output<typeof ingestSchema>;
