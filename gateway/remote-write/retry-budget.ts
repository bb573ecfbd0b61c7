import type { Outcome } from "./attempt.js";
import { RETRY_AFTER_CAP_MS, backoffDelay } from "./backoff.js";

type Retry = Extract<Outcome, { kind: "retry" }>;

/**
 * How long one batch has been refused by a receiver that answered, and how
 * long to wait before the next attempt.
 *
 * Only answers count towards `max_retry_duration` (5xx, 429, and 1xx/3xx): a
 * receiver that answers and keeps refusing is either overloaded or refusing
 * this batch for good (Prometheus 2.42 answers 500 for a sample older than its
 * out-of-order window), and after max_retry_duration the batch is set aside so
 * it cannot block the backlog. Network errors and timeouts mean the uplink is
 * down: exactly what the outbox is for, so they are retried until the storage
 * bounds evict the batch; they neither advance nor reset the clock. The time
 * counted is the sum of the gaps between consecutive answered failures, so an
 * outage between two 500s is not counted either (docs/delivery.md).
 */
export class RetryBudget {
  private batchId = -1;
  private answeredMs = 0;
  private lastAnsweredAt: number | null = null;
  private failures = 0;

  constructor(
    private readonly minBackoffMs: number,
    private readonly maxBackoffMs: number,
    /** 0 = answers are retried forever. */
    private readonly maxRetryDurationMs: number,
  ) {}

  /** Consecutive failures of the current outage (any batch); 0 after a success. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records a failed attempt of `batchId`; returns whether the batch has used up its budget. */
  fail(batchId: number, outcome: Retry, nowMs: number): { exhausted: boolean; delayMs: number } {
    if (batchId !== this.batchId) {
      this.batchId = batchId;
      this.answeredMs = 0;
      this.lastAnsweredAt = null;
    }
    this.failures++;
    const answered = outcome.status !== undefined;
    let previousWasAnswer = this.lastAnsweredAt !== null;
    if (answered) {
      if (previousWasAnswer) this.answeredMs += nowMs - this.lastAnsweredAt!;
      this.lastAnsweredAt = nowMs;
    } else {
      // A network error between two answers: the gap around it is outage, not refusal.
      this.lastAnsweredAt = null;
      previousWasAnswer = false;
    }
    const exhausted = answered && this.maxRetryDurationMs > 0 && this.answeredMs >= this.maxRetryDurationMs;
    let delayMs = backoffDelay(this.failures, this.minBackoffMs, this.maxBackoffMs);
    if (outcome.retryAfterMs !== undefined) {
      delayMs = Math.max(delayMs, Math.min(outcome.retryAfterMs, Math.max(this.maxBackoffMs, RETRY_AFTER_CAP_MS)));
    }
    return { exhausted, delayMs };
  }

  /** Time refused-by-answers counted so far for the current batch. */
  get answeredRetryMs(): number {
    return this.answeredMs;
  }

  succeed(): void {
    this.failures = 0;
    this.batchId = -1;
  }

  /** The batch left the queue another way (dead letter): its clock is dropped, the outage's backoff kept. */
  forget(): void {
    this.batchId = -1;
  }
}

/**
 * Backlog replay pacing (`queue_config.replay_speed`): batches committed t ms
 * apart are sent at least t/speed ms apart. Live data is never held back (its
 * batches are committed in real time, so the gap has passed by the time it is
 * read); a backlog replays at `speed` × real time. Each wait is capped, so a
 * clock jump in created_ms (a Pi without RTC setting its clock) cannot stall
 * the queue.
 */
export class ReplayPacer {
  static readonly MAX_WAIT_MS = 5000;
  private lastCreatedMs: number | null = null;
  private lastSentAt = 0;

  constructor(private readonly speed: number) {}

  /** How long to wait before sending a batch committed at `createdMs`. */
  waitMs(createdMs: number, nowMs: number): number {
    if (this.speed <= 0 || this.lastCreatedMs === null) return 0;
    const gap = Math.min(ReplayPacer.MAX_WAIT_MS, Math.max(0, createdMs - this.lastCreatedMs) / this.speed);
    return Math.max(0, this.lastSentAt + gap - nowMs);
  }

  /** A batch committed at `createdMs` is being sent at `nowMs`. */
  sent(createdMs: number, nowMs: number): void {
    this.lastCreatedMs = createdMs;
    this.lastSentAt = nowMs;
  }
}
