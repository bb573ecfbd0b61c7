import type { Logger } from "pino";
import type { RemoteWriteConfig } from "../config/schema.js";
import { parseDuration } from "../config/duration.js";
import type { Metrics } from "../metrics/catalogue.js";
import type { Outbox, OutboxBatch } from "../outbox/outbox.js";
import { postBatch, type Outcome } from "./attempt.js";
import { RETRY_AFTER_CAP_MS, Sleep, backoffDelay } from "./backoff.js";
import { buildRequest } from "./headers.js";

export interface SenderStatus {
  name: string;
  url: string;
  lastSuccessMs: number | null;
  lastError: { atMs: number; message: string; status?: number } | null;
  pendingRows: number;
  pendingSamples: number;
  deadLetterRows: number;
}

/**
 * Ships one target's outbox rows, oldest first, one request in flight, so every
 * series arrives in time order (Remote-Write 1.0, "Ordering"). A row leaves the
 * outbox only on a 2xx (ack) or a non-retryable 4xx (dead letter); anything else
 * is retried, so a row is delivered at least once.
 */
export class Sender {
  private readonly name: string;
  private readonly outbox: Outbox;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly sleep = new Sleep();

  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private appended = false;
  private controller: AbortController | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  private failures = 0;
  private lastSuccessMs: number | null = null;
  private lastError: SenderStatus["lastError"] = null;

  constructor(opts: { name: string; config: RemoteWriteConfig; outbox: Outbox; metrics: Metrics; log: Logger; userAgent: string }) {
    this.name = opts.name;
    this.outbox = opts.outbox;
    this.metrics = opts.metrics;
    const built = buildRequest(opts.config, opts.userAgent);
    this.url = built.url;
    this.headers = built.headers;
    this.log = opts.log.child({ target: this.name });
    for (const r of built.refused) this.log.warn({ header: r.name }, `remote_write.headers.${r.name} not sent: ${r.reason}`);
    try {
      new Headers(this.headers); // fails here, naming the target, rather than on every request
    } catch (err) {
      throw new Error(`remote_write ${this.name}: invalid header in headers/basic_auth/bearer_token: ${(err as Error).message}`);
    }
    this.timeoutMs = parseDuration(opts.config.remote_timeout);
    this.minBackoffMs = parseDuration(opts.config.queue_config.min_backoff);
    this.maxBackoffMs = Math.max(this.minBackoffMs, parseDuration(opts.config.queue_config.max_backoff));
  }

  /** Begins the loop; it sleeps until `outbox.onAppend` fires for this target. Idempotent. */
  start(): void {
    if (this.loop !== undefined || this.closing) return;
    this.unsubscribe = this.outbox.onAppend((target) => {
      if (target !== this.name) return;
      this.updateGauges();
      const wake = this.wake;
      this.wake = undefined;
      if (wake !== undefined) wake();
      else this.appended = true;
    });
    this.updateGauges();
    this.loop = this.run().catch((err: unknown) => {
      // run() handles its own errors; reaching here is a bug, but must not crash the gateway.
      this.log.error({ err }, "remote-write sender loop ended unexpectedly");
    });
  }

  status(): SenderStatus {
    let pending = { rows: 0, samples: 0 };
    let deadRows = 0;
    try {
      pending = this.outbox.depth(this.name);
      deadRows = this.outbox.deadLetterDepth(this.name).rows;
    } catch {
      // outbox already closed (shutdown): report zeros rather than throw from a status endpoint
    }
    return {
      name: this.name,
      url: this.url,
      lastSuccessMs: this.lastSuccessMs,
      lastError: this.lastError,
      pendingRows: pending.rows,
      pendingSamples: pending.samples,
      deadLetterRows: deadRows,
    };
  }

  /** Resolves when this target's outbox is empty and nothing is in flight, or when the sender is closed. */
  drained(): Promise<void> {
    if (this.closing || (this.controller === undefined && this.pendingRows() === 0)) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Stops: no new request starts; a backoff wait ends at once; the in-flight
   * request may finish within `deadlineMs`, then it is aborted and its row stays
   * in the outbox (it is sent again after a restart). Idempotent.
   */
  close(deadlineMs: number): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    this.closing = true;
    this.unsubscribe?.();
    this.sleep.cancel();
    this.wakeLoop();
    this.closePromise = (async () => {
      const deadline = setTimeout(() => this.controller?.abort(new Error("sender closed")), deadlineMs);
      try {
        await this.loop;
      } finally {
        clearTimeout(deadline);
        this.resolveDrained();
      }
    })();
    return this.closePromise;
  }

  private async run(): Promise<void> {
    while (!this.closing) {
      let batch: OutboxBatch | undefined;
      try {
        this.appended = false;
        batch = this.outbox.oldest(this.name);
      } catch (err) {
        this.noteError({ atMs: Date.now(), message: `outbox read failed: ${(err as Error).message}` });
        await this.sleep.wait(this.maxBackoffMs);
        continue;
      }
      if (batch === undefined) {
        this.resolveDrained();
        await this.waitForAppend();
        continue;
      }
      const outcome = await this.send(batch);
      if (outcome.kind === "aborted") break;
      try {
        await this.settle(batch, outcome);
      } catch (err) {
        // SQLite failed (disk full, closed): keep the row, try again later.
        this.noteError({ atMs: Date.now(), message: `outbox write failed: ${(err as Error).message}` });
        await this.sleep.wait(this.maxBackoffMs);
      }
    }
  }

  /** Applies an outcome to the outbox and the metrics; sleeps the backoff on a retry. */
  private async settle(batch: OutboxBatch, outcome: Exclude<Outcome, { kind: "aborted" }>): Promise<void> {
    const m = this.metrics;
    const target = this.name;
    if (outcome.kind === "ok") {
      this.outbox.ack(batch.id);
      const now = Date.now();
      m.rwSamplesSent.inc({ target }, batch.samples);
      m.rwBytesSent.inc({ target }, batch.bytes);
      m.rwLastSuccess.set({ target }, now / 1000);
      this.lastSuccessMs = now;
      if (this.failures > 0) this.log.info({ failures: this.failures }, "remote-write target is accepting again");
      this.failures = 0;
      this.updateGauges();
      return;
    }
    if (outcome.kind === "dead") {
      this.outbox.deadLetter(batch, String(outcome.status), outcome.message);
      m.rwDeadLettered.inc({ target, reason: "status_4xx" }, batch.samples);
      // Spec: a 4xx other than 429 MUST NOT be retried; log the body as is.
      this.log.error(
        { status: outcome.status, batchId: batch.id, samples: batch.samples, body: outcome.message },
        "remote-write batch refused; moved to dead letters",
      );
      this.noteError({ atMs: Date.now(), message: `HTTP ${outcome.status}: ${outcome.message}`, status: outcome.status }, false);
      this.updateGauges();
      return;
    }
    this.outbox.recordAttempt(batch.id);
    m.rwRetries.inc({ target, reason: outcome.reason });
    this.failures++;
    let delay = backoffDelay(this.failures, this.minBackoffMs, this.maxBackoffMs);
    if (outcome.retryAfterMs !== undefined) {
      delay = Math.max(delay, Math.min(outcome.retryAfterMs, Math.max(this.maxBackoffMs, RETRY_AFTER_CAP_MS)));
    }
    const err: NonNullable<SenderStatus["lastError"]> = { atMs: Date.now(), message: outcome.message };
    if (outcome.status !== undefined) err.status = outcome.status;
    // Warn on the first failure of an outage only: later ones would repeat every backoff.
    this.noteError(err, this.failures === 1, { reason: outcome.reason, retryInMs: delay, batchId: batch.id });
    this.updateGauges(); // the oldest row's age grows while it is retried
    if (!this.closing) await this.sleep.wait(delay);
  }

  /** One POST of the stored payload, timed and counted; never throws. */
  private async send(batch: OutboxBatch): Promise<Outcome> {
    const controller = new AbortController();
    this.controller = controller;
    const stopTimer = this.metrics.rwDuration.startTimer({ target: this.name });
    try {
      const outcome = await postBatch(this.url, this.headers, batch.payload, this.timeoutMs, controller);
      if (outcome.kind !== "aborted") {
        const code = outcome.kind !== "retry" || outcome.status !== undefined ? String(outcome.status) : "error";
        this.metrics.rwRequests.inc({ target: this.name, code });
      }
      return outcome;
    } finally {
      stopTimer();
      this.controller = undefined;
    }
  }

  private noteError(
    err: NonNullable<SenderStatus["lastError"]>,
    warn = true,
    fields: Record<string, unknown> = {},
  ): void {
    this.lastError = err;
    if (warn) this.log.warn({ ...fields, status: err.status }, `remote-write failed: ${err.message}`);
    else this.log.debug({ ...fields, status: err.status }, `remote-write failed: ${err.message}`);
  }

  private waitForAppend(): Promise<void> {
    if (this.appended || this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  private wakeLoop(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private resolveDrained(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private pendingRows(): number {
    try {
      return this.outbox.depth(this.name).rows;
    } catch {
      return 0;
    }
  }

  /** Keeps this target's outbox gauges current (cheap: the outbox keeps its figures in memory). */
  private updateGauges(): void {
    const target = this.name;
    try {
      const d = this.outbox.depth(target);
      this.metrics.outboxRows.set({ target }, d.rows);
      this.metrics.outboxBytes.set({ target }, d.bytes);
      this.metrics.outboxOldestAge.set({ target }, d.oldestMs === null ? 0 : Math.max(0, (Date.now() - d.oldestMs) / 1000));
      this.metrics.outboxDeadLetters.set({ target }, this.outbox.deadLetterDepth(target).rows);
    } catch {
      // outbox closed during shutdown: the gauges keep their last values
    }
  }
}
