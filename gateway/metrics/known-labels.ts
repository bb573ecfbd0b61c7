import type { Metrics } from "./catalogue.js";
import { DROP_REASONS, type DropReason, type MessageDropReason } from "./drop-reasons.js";
import { HTTP_AUTH_REFUSED_REASONS, MQTT_ACL_ACTIONS, MQTT_ACL_REFUSED_REASONS, MQTT_AUTH_REFUSED_REASONS } from "./auth-reasons.js";
import { LABEL_VALUE_REPLACED_REASONS, MQTT_QUEUE_DROPPED_REASONS, MQTT_REFUSED_REASONS, MQTT_RETAINED_REFUSED_REASONS, MQTT_SESSION_REMOVED_REASONS } from "./limit-reasons.js";

/**
 * The label values edgegate can emit, so every labelled counter is exported at 0
 * from the first scrape. Without this, `rate(edgegate_samples_dropped_total[5m])`
 * has no series until the first drop and an alert on it can never see the rise
 * from 0 to 1 (Prometheus's own advice: initialise the label values you know).
 * The drop reasons come from the typed catalogue (drop-reasons.ts), which a
 * unit test keeps complete.
 */
const reasons = Object.keys(DROP_REASONS) as DropReason[];
export const SAMPLE_DROP_REASONS: readonly DropReason[] = reasons.filter((r) => DROP_REASONS[r].counter === "samples");
export const MESSAGE_DROP_REASONS = reasons.filter((r) => DROP_REASONS[r].counter === "messages") as MessageDropReason[];

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
  for (const reason of Object.keys(MQTT_REFUSED_REASONS)) m.mqttRefused.inc({ reason }, 0);
  for (const reason of Object.keys(MQTT_RETAINED_REFUSED_REASONS)) m.mqttRetainedRefused.inc({ reason }, 0);
  for (const reason of Object.keys(MQTT_QUEUE_DROPPED_REASONS)) m.mqttQueueDropped.inc({ reason }, 0);
  for (const reason of Object.keys(MQTT_SESSION_REMOVED_REASONS)) m.mqttSessionsRemoved.inc({ reason }, 0);
  for (const reason of Object.keys(LABEL_VALUE_REPLACED_REASONS)) m.labelValuesReplaced.inc({ reason }, 0);
  for (const reason of Object.keys(MQTT_AUTH_REFUSED_REASONS)) m.mqttAuthRefusals.inc({ reason }, 0);
  for (const reason of Object.keys(HTTP_AUTH_REFUSED_REASONS)) m.httpAuthRefusals.inc({ reason }, 0);
  for (const action of MQTT_ACL_ACTIONS) for (const reason of Object.keys(MQTT_ACL_REFUSED_REASONS)) m.mqttAclRefusals.inc({ action, reason }, 0);
  for (const file of ["password_file", "acl_file"]) for (const result of RESULTS) m.authFileReloads.inc({ file, result }, 0);
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
