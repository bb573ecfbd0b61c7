import type { Outcome } from "./attempt.js";

/**
 * Resends that a receiver refuses because it already has them.
 *
 * An attempt that ended without an answer (reset after the body was sent,
 * remote_timeout, shutdown abort, kill -9 or power cut mid-request) may have
 * been stored by the receiver. Sending the batch again is at-least-once
 * delivery, and Prometheus accepts an exact duplicate only at a series'
 * newest timestamp: a batch holding two samples of one series is refused
 * whole with 400 "out of order sample" on its resend (its first sample is now
 * older than the second, already stored). Measured with Prometheus 2.42 in
 * test/e2e/fault-uplink.test.ts.
 *
 * Such a 400, on the resend of a batch an earlier attempt of which had no
 * answer (whatever later attempts were answered), means "already stored" (the receiver applies a request all or nothing, and
 * the outbox never commits a series out of order), so the batch is taken as
 * delivered instead of being dead-lettered. A first attempt, or a batch whose
 * every attempt was answered (5xx), never gets this benefit of the doubt.
 */
const ALREADY_STORED = [
  /out of order sample/i, // Prometheus (storage.ErrOutOfOrderSample)
  /duplicate sample for timestamp/i, // Prometheus (storage.ErrDuplicateSampleForTimestamp)
  /err-mimir-sample-out-of-order|err-mimir-sample-duplicate-timestamp/i, // Grafana Mimir
];

export function refusedAsAlreadyStored(outcome: Outcome, possiblyDelivered: boolean): outcome is Extract<Outcome, { kind: "dead" }> {
  if (!possiblyDelivered || outcome.kind !== "dead" || outcome.status !== 400) return false;
  return ALREADY_STORED.some((re) => re.test(outcome.message));
}

/** Whether an outcome leaves the receiver's state unknown (the request may have been stored). */
export function unanswered(outcome: Outcome): boolean {
  return outcome.kind === "aborted" || (outcome.kind === "retry" && outcome.status === undefined && outcome.reason !== "auth_error");
}
