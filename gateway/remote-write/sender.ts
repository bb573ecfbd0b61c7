import type { Logger } from "pino";
import type { RemoteWriteConfig } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import type { Outbox, OutboxBatch } from "../outbox/outbox.js";
import { postBatch, type Outcome } from "./attempt.js";
import { Sleep } from "./backoff.js";
import { pendingRows, queueRows, updateOutboxGauges } from "./gauges.js";
import { buildRequest } from "./headers.js";
import { refusedAsAlreadyStored, unanswered } from "./resend.js";
import { ReplayPacer, RetryBudget } from "./retry-budget.js";
import { Transport } from "./transport.js";
import { decodeWriteRequest, encodeWriteRequest, snappyCompress, snappyDecompress, snappyDecompressFast } from "./codec.js";
import { isolateRefused, refusalIsPerSample, type PartVerdict } from "./split.js";
import { splitIntoLanes } from "./lanes.js";
import { RepeatLimiter } from "../logging/repeat-limiter.js";
import { validateHeaderName, validateHeaderValue } from "node:http";

/** A merged run of outbox rows, encoded for its lanes (lanes.ts). */
interface PreparedRun {
  ids: number[];
  lastCreatedMs: number;
  payloads: Uint8Array[][];
}

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
 * outbox only on a 2xx (ack), a non-retryable 4xx or an exhausted
 * max_retry_duration (dead letter), or a storage bound (evicted); anything else
 * is retried, so a row is delivered at least once. A backlog is replayed at
 * most `replay_speed` × real time (ReplayPacer); newer batches queue behind it.
 * A sharded target runs one Sender per shard queue (`queue`), all reporting
 * under the target's name (target-sender.ts).
 */
export class Sender {
  private readonly name: string;
  /** The outbox queue this sender ships: the target's name, or one shard's queue (queue-names.ts). */
  private readonly queue: string;
  private readonly outbox: Outbox;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly url: string;
  private readonly transport: Transport;
  private readonly authorize: (body: Uint8Array) => Promise<Record<string, string>>;
  private readonly timeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly budget: RetryBudget;
  private readonly pacer: ReplayPacer;
  /** queue_config.max_samples_per_send: the bound of a request merging several backlog rows. */
  private readonly maxSamplesPerSend: number;
  /** queue_config.replay_concurrency: requests in flight at once for a merged backlog run (lanes.ts). */
  private readonly lanes: number;
  /** Rows whose every recorded attempt (the count) was a merged request the receiver answered: not possibly stored. */
  private readonly answeredRuns = new Map<number, number>();
  private readonly sleep = new Sleep();

  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private appended = false;
  /** The requests in flight (several while a merged run is sent over lanes). */
  private readonly controllers = new Set<AbortController>();
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  /** Id of the batch whose first attempt was paced already (retries are not paced again). */
  private pacedId = -1;
  /** The batch attempted last, and whether the receiver may already hold it (see resend.ts). */
  private attemptedId = -1;
  private maybeStored = false;
  private lastSuccessMs: number | null = null;
  private lastError: SenderStatus["lastError"] = null;
  /** The same failure repeating in a loop is logged once a minute, with the count of repeats. */
  private readonly repeats = new RepeatLimiter();

  constructor(opts: { name: string; queue?: string; config: RemoteWriteConfig; outbox: Outbox; metrics: Metrics; log: Logger; userAgent: string; env?: NodeJS.ProcessEnv }) {
    this.name = opts.name;
    this.queue = opts.queue ?? opts.name;
    this.outbox = opts.outbox;
    this.metrics = opts.metrics;
    this.log = opts.log.child(this.queue === this.name ? { target: this.name } : { target: this.name, queue: this.queue });
    let built: ReturnType<typeof buildRequest>;
    try {
      built = buildRequest(opts.config, opts.userAgent, opts.env);
      // Fails here, naming the target, rather than on every request. node:http's own validators, not
      // `new Headers()`: that global loads undici and compiles its WebAssembly parser (~10 MB resident) for nothing.
      for (const [k, v] of Object.entries(built.headers)) {
        validateHeaderName(k);
        validateHeaderValue(k, v);
      }
      this.transport = new Transport(new URL(built.url), opts.config.tls_config);
    } catch (err) {
      throw new Error(`remote_write ${this.name}: ${(err as Error).message}`);
    }
    this.url = built.url;
    this.authorize = built.authorize;
    for (const r of built.refused) this.log.warn({ header: r.name }, `remote_write.headers.${r.name} not sent: ${r.reason}`);
    const q = opts.config.queue_config;
    this.timeoutMs = opts.config.remote_timeout;
    const minBackoffMs = q.min_backoff;
    this.maxBackoffMs = Math.max(minBackoffMs, q.max_backoff);
    this.budget = new RetryBudget(minBackoffMs, this.maxBackoffMs, q.max_retry_duration);
    this.pacer = new ReplayPacer(q.replay_speed);
    this.maxSamplesPerSend = q.max_samples_per_send;
    this.lanes = q.replay_concurrency;
  }

  /** Begins the loop; it sleeps until `outbox.onAppend` fires for this queue. Idempotent. */
  start(): void {
    if (this.loop !== undefined || this.closing) return;
    this.unsubscribe = this.outbox.onAppend((queue) => {
      if (queue !== this.queue) return;
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

  /** Resolves when this sender's queue is empty and nothing is in flight, or when the sender is closed. */
  drained(): Promise<void> {
    if (this.closing || (this.controllers.size === 0 && queueRows(this.outbox, this.queue) === 0)) return Promise.resolve();
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
      const deadline = setTimeout(() => {
        for (const c of this.controllers) c.abort(new Error("sender closed"));
      }, deadlineMs);
      try {
        await this.loop;
      } finally {
        clearTimeout(deadline);
        this.transport.close();
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
        batch = this.outbox.oldest(this.queue);
      } catch (err) {
        this.noteError({ atMs: Date.now(), message: `outbox read failed: ${(err as Error).message}` });
        await this.sleep.wait(this.maxBackoffMs);
        continue;
      }
      if (batch === undefined) {
        // Per target: another shard may still be replaying.
        if (pendingRows(this.outbox, this.name) === 0) this.metrics.rwReplayLag.set({ target: this.name }, 0);
        this.resolveDrained();
        await this.waitForAppend();
        continue;
      }
      if (batch.id !== this.pacedId) {
        const wait = this.pacer.waitMs(batch.createdMs, Date.now());
        if (wait > 0) {
          await this.sleep.wait(wait);
          continue; // re-read: the batch may have been evicted meanwhile, or close() called
        }
        this.pacedId = batch.id;
        this.pacer.sent(batch.createdMs, Date.now());
      }
      if (batch.attempts === 0 && batch.samples < this.maxSamplesPerSend) {
        let merged: Awaited<ReturnType<Sender["sendRun"]>>;
        try {
          merged = await this.sendRun();
        } catch (err) {
          // SQLite failed (disk full, closed): the rows stay; sent again (one by one) later.
          this.noteError({ atMs: Date.now(), message: `outbox write failed: ${(err as Error).message}` });
          await this.sleep.wait(this.maxBackoffMs);
          continue;
        }
        if (merged === "aborted") break;
        if (merged === "sent") continue;
      }
      // Sticky per batch: once an attempt went unanswered the receiver may hold the batch, whatever
      // later attempts are answered (a 503 from a proxy proves nothing about the earlier one). A batch
      // first seen with attempts > 0 was tried by a previous run, maybe cut off mid-request (kill -9),
      // unless each of those attempts was a merged request (sendRun) that was answered.
      if (batch.id !== this.attemptedId) {
        this.attemptedId = batch.id;
        this.maybeStored = batch.attempts > 0 && this.answeredRuns.get(batch.id) !== batch.attempts;
        this.answeredRuns.delete(batch.id);
      }
      const possiblyDelivered = this.maybeStored;
      let outcome: Outcome;
      try {
        try {
          this.outbox.recordAttempt(batch.id); // before sending: a crash mid-request leaves the mark
        } catch (err) {
          // Disk full: send anyway. Delivering and deleting is what frees space; the mark only
          // refines how a resend after a crash is counted.
          this.log.debug({ err: (err as Error).message, batchId: batch.id }, "could not record the attempt; sending anyway");
        }
        outcome = await this.send(batch);
      } catch (err) {
        this.noteError({ atMs: Date.now(), message: `outbox write failed: ${(err as Error).message}` });
        await this.sleep.wait(this.maxBackoffMs);
        continue;
      }
      if (unanswered(outcome)) this.maybeStored = true;
      if (outcome.kind === "aborted") break;
      const settled: Exclude<Outcome, { kind: "aborted" }> = refusedAsAlreadyStored(outcome, possiblyDelivered) ? { kind: "ok", status: outcome.status } : outcome;
      try {
        await this.settle(batch, settled, possiblyDelivered);
      } catch (err) {
        // SQLite failed (disk full, closed): keep the row, try again later.
        this.noteError({ atMs: Date.now(), message: `outbox write failed: ${(err as Error).message}` });
        await this.sleep.wait(this.maxBackoffMs);
      }
    }
  }

  /**
   * A backlog (an outage, a slow receiver) is many small rows, one per flush:
   * sent one request each, the drain is bound by round trips and by the two
   * commits per request (attempt mark, ack), each an fsync. So consecutive
   * rows never attempted are sent as ONE request of at most
   * max_samples_per_send samples (as far as replay_speed lets them go now):
   * the protobuf WriteRequests concatenated are one WriteRequest holding all
   * their series, still in commit order, so every series stays in time order.
   * Their attempt marks are one transaction, their acks another.
   *
   * Only a 2xx settles a merged request. Anything else leaves its rows with
   * one attempt recorded, so they are sent again one by one by the normal
   * path (retries, splitting, dead letters, all per row); after an answered
   * refusal they are not taken as possibly stored (`answeredRuns`). Returns
   * "single" when fewer than two rows qualify (nothing was sent).
   */
  private async sendRun(): Promise<"sent" | "single" | "aborted"> {
    const rows = this.outbox.oldestRun(this.queue, this.maxSamplesPerSend * this.lanes, 256 * this.lanes);
    // Pacing: the first row was paced by the caller; a later one joins only if it could be sent now.
    let run = this.prepareRun(rows, 1);
    if (run === undefined) return "single";
    try {
      this.outbox.recordAttempts(run.ids);
    } catch (err) {
      this.log.debug({ err: (err as Error).message, batchIds: run.ids }, "could not record the attempts; sending anyway");
    }
    for (;;) {
      this.pacer.sent(run.lastCreatedMs, Date.now());
      this.pacedId = run.ids[run.ids.length - 1]!;
      const inFlight = this.sendLanes(run.payloads);
      // While this run is in flight, read and encode the next one (sent only after this one's 2xx).
      let next: PreparedRun | undefined;
      if (!this.closing) {
        try {
          next = this.prepareRun(this.outbox.nextRun(this.queue, run.ids[run.ids.length - 1]!, this.maxSamplesPerSend * this.lanes, 256 * this.lanes), 0);
        } catch (err) {
          this.log.debug({ err: (err as Error).message }, "could not read the next run ahead; it is read after this one");
        }
      }
      const { outcome, anyAccepted } = await inFlight;
      if (outcome.kind === "aborted") return "aborted";
      if (outcome.kind === "ok" && outcome.status < 300 && next !== undefined && !this.closing) {
        // This run's acks and the next run's attempt marks: one transaction, then the next request.
        const removed = this.outbox.ackAndRecordAttempts(this.queue, run.ids, next.ids);
        this.accepted(run, removed);
        run = next;
        continue;
      }
      return this.settleRun(run, outcome, anyAccepted);
    }
  }

  /** Up to the first row that replay_speed does not let go now (rows before `paced` are paced already); undefined for fewer than two rows. */
  private prepareRun(rows: OutboxBatch[], paced: number): PreparedRun | undefined {
    const now = Date.now();
    let n = paced;
    while (n < rows.length && this.pacer.waitMs(rows[n]!.createdMs, now) === 0) n++;
    if (n < 2) return undefined;
    const run = rows.slice(0, n);
    let payloads: Uint8Array[][];
    try {
      const parts = run.map((r) => snappyDecompressFast(r.payload, 256 * 1024 * 1024));
      const request = Buffer.concat(parts);
      const runSamples = run.reduce((k, r) => k + r.samples, 0);
      // One lane for a run that fits one request: more would only make more, smaller requests.
      const lanes = runSamples > this.maxSamplesPerSend ? this.lanes : 1;
      payloads = splitIntoLanes(request, lanes, this.maxSamplesPerSend)
        .filter((l) => l.length > 0)
        .map((l) => l.map((x) => snappyCompress(x.body)));
    } catch {
      return undefined; // a row that does not decode goes the single path (dead letter)
    }
    return { ids: run.map((r) => r.id), lastCreatedMs: run[n - 1]!.createdMs, payloads };
  }

  /** Metrics and state after a run was accepted and its rows deleted. */
  private accepted(run: PreparedRun, removed: { samples: number; bytes: number }): void {
    const m = this.metrics;
    const target = this.name;
    m.rwSamplesSent.inc({ target }, removed.samples);
    m.rwBytesSent.inc({ target }, removed.bytes);
    const done = Date.now();
    m.rwLastSuccess.set({ target }, done / 1000);
    m.rwReplayLag.set({ target }, Math.max(0, (done - run.lastCreatedMs) / 1000));
    this.lastSuccessMs = done;
    this.repeats.reset("error");
    if (this.budget.consecutiveFailures > 0) this.log.info({ failures: this.budget.consecutiveFailures }, "remote-write target is accepting again");
    this.budget.succeed();
    this.updateGauges();
  }

  /** The last run of a sequence: acked on a 2xx; otherwise its rows go the one-by-one path. */
  private async settleRun(run: PreparedRun, outcome: Exclude<Outcome, { kind: "aborted" }>, anyAccepted: boolean): Promise<"sent"> {
    const ids = run.ids;
    const m = this.metrics;
    const target = this.name;
    if (outcome.kind === "ok" && outcome.status < 300) {
      this.accepted(run, this.outbox.ackAll(ids));
      return "sent";
    }
    // A lane that was accepted stored part of these rows: their resend is then possibly a duplicate.
    const answered = !anyAccepted && (outcome.kind === "dead" || (outcome.kind === "retry" && outcome.status !== undefined));
    if (this.answeredRuns.size > 100_000) this.answeredRuns.clear(); // rows evicted unseen; forgetting only makes a resend "possibly stored"
    if (answered) for (const id of ids) this.answeredRuns.set(id, 1);
    this.log.debug({ batchIds: ids, outcome }, "merged request not accepted; sending its rows one by one");
    if (outcome.kind === "retry") {
      m.rwRetries.inc({ target, reason: outcome.reason });
      const { delayMs } = this.budget.fail(ids[0]!, outcome, Date.now());
      const err: NonNullable<SenderStatus["lastError"]> = { atMs: Date.now(), message: outcome.message };
      if (outcome.status !== undefined) err.status = outcome.status;
      this.noteError(err, this.budget.consecutiveFailures === 1, { reason: outcome.reason, retryInMs: delayMs, batchId: ids[0] });
      if (!this.closing) await this.sleep.wait(delayMs);
    }
    return "sent";
  }

  /**
   * Sends the lanes of a merged run at the same time, each lane's requests one
   * after another (a lane stops at its first request not answered 2xx). The
   * result is a 2xx only if every request was; otherwise the first failure
   * (an abort first), and whether any request was accepted.
   */
  private async sendLanes(lanes: Uint8Array[][]): Promise<{ outcome: Outcome; anyAccepted: boolean }> {
    let anyAccepted = false;
    const results = await Promise.all(
      lanes.map(async (requests): Promise<Outcome> => {
        let last: Outcome = { kind: "ok", status: 204 };
        for (const payload of requests) {
          if (this.closing) return { kind: "aborted" }; // the rows stay (attempts recorded: a resend counts as possibly stored)
          last = await this.sendPayload(payload);
          if (last.kind !== "ok" || last.status >= 300) return last;
          anyAccepted = true;
        }
        return last;
      }),
    );
    const failed = results.find((r) => r.kind === "aborted") ?? results.find((r) => r.kind !== "ok" || r.status >= 300);
    return { outcome: failed ?? results[0]!, anyAccepted };
  }

  /** Applies an outcome to the outbox and the metrics; sleeps the backoff on a retry. */
  private async settle(batch: OutboxBatch, outcome: Exclude<Outcome, { kind: "aborted" }>, resend: boolean): Promise<void> {
    const m = this.metrics;
    const target = this.name;
    if (outcome.kind === "ok") {
      if (outcome.status >= 400) {
        m.rwResends.inc({ target, result: "refused_as_stored" });
        this.log.info({ batchId: batch.id, samples: batch.samples, status: outcome.status }, "resend refused as already stored after an unanswered attempt; taken as delivered");
      } else if (resend) {
        m.rwResends.inc({ target, result: "accepted" });
      }
      const now = Date.now();
      // A row evicted while in flight is impossible (leased), but never count a sample twice.
      if (this.outbox.ack(batch.id)) {
        m.rwSamplesSent.inc({ target }, batch.samples);
        m.rwBytesSent.inc({ target }, batch.bytes);
      }
      m.rwLastSuccess.set({ target }, now / 1000);
      m.rwReplayLag.set({ target }, Math.max(0, (now - batch.createdMs) / 1000));
      this.lastSuccessMs = now;
      this.repeats.reset("error");
      if (this.budget.consecutiveFailures > 0) this.log.info({ failures: this.budget.consecutiveFailures }, "remote-write target is accepting again");
      this.budget.succeed();
      this.updateGauges();
      return;
    }
    if (outcome.kind === "dead") {
      // Spec: a 4xx other than 429 MUST NOT be retried (as a whole); log the body as is. Split only when
      // the body names a per-sample cause (split.ts): a plain 400 is about the request, never sent again.
      if (refusalIsPerSample(outcome.status, outcome.message)) await this.setAside(batch, "status_4xx", outcome.status, outcome.message);
      else this.moveToDeadLetters(batch, "status_4xx", String(outcome.status), outcome.message);
      this.noteError({ atMs: Date.now(), message: `HTTP ${outcome.status}: ${outcome.message}`, status: outcome.status }, false);
      return;
    }
    m.rwRetries.inc({ target, reason: outcome.reason });
    const { exhausted, delayMs } = this.budget.fail(batch.id, outcome, Date.now());
    const err: NonNullable<SenderStatus["lastError"]> = { atMs: Date.now(), message: outcome.message };
    if (outcome.status !== undefined) err.status = outcome.status;
    if (exhausted) {
      // One poison batch (e.g. Prometheus 2.42's 500 for a sample older than its OOO window) must not block the backlog.
      if (outcome.status !== undefined && outcome.status >= 500) await this.setAside(batch, "max_retry_duration", outcome.status, outcome.message);
      else this.moveToDeadLetters(batch, "max_retry_duration", String(outcome.status), outcome.message);
      this.noteError(err, false);
      return;
    }
    // Warn on the first failure of an outage only: later ones would repeat every backoff.
    this.noteError(err, this.budget.consecutiveFailures === 1, { reason: outcome.reason, retryInMs: delayMs, batchId: batch.id });
    this.updateGauges(); // the oldest row's age grows while it is retried
    if (!this.closing) await this.sleep.wait(delayMs);
  }

  /**
   * Only the refused samples are set aside: the batch is split until they
   * are isolated (split.ts); they go to dead letters with the answer that
   * refused them, the rest is delivered, then the batch is deleted. A batch
   * that cannot be decoded, or holds one sample, goes to dead letters whole.
   */
  private async setAside(batch: OutboxBatch, reason: "status_4xx" | "max_retry_duration", status: number | undefined, message: string): Promise<void> {
    let series;
    try {
      series = decodeWriteRequest(snappyDecompress(batch.payload, 256 * 1024 * 1024));
    } catch {
      this.moveToDeadLetters(batch, reason, String(status), message);
      return;
    }
    if (batch.samples <= 1) {
      this.moveToDeadLetters(batch, reason, String(status), message);
      return;
    }
    const result = await isolateRefused(series, { status: status ?? 0, message }, (part) => this.postPart(part));
    const target = this.name;
    for (const r of result.refused) {
      this.outbox.deadLetterPart(batch, snappyCompress(encodeWriteRequest(r.series)), r.samples, String(r.status), r.message);
      this.metrics.rwDeadLettered.inc({ target, reason }, r.samples);
    }
    if (this.outbox.ack(batch.id)) {
      this.metrics.rwSamplesSent.inc({ target }, result.delivered);
    }
    this.budget.forget();
    const refused = result.refused.reduce((n, r) => n + r.samples, 0);
    this.log.error(
      { reason, status, batchId: batch.id, samples: batch.samples, refused, delivered: result.delivered, requests: result.requests, body: message },
      "remote-write batch refused; split until the refused samples were isolated: they are in dead letters, the rest was delivered",
    );
    this.updateGauges();
  }

  /** One part during isolation: 2xx accepted; any other status is this part's verdict; network errors are retried with backoff. */
  private async postPart(part: Parameters<typeof encodeWriteRequest>[0]): Promise<PartVerdict> {
    const payload = snappyCompress(encodeWriteRequest(part));
    for (;;) {
      if (this.closing) throw new Error("closing: isolation interrupted; the batch stays in the outbox");
      const outcome = await this.sendPayload(payload);
      if (outcome.kind === "ok") return { ok: true };
      if (outcome.kind === "dead") return { ok: false, status: outcome.status, message: outcome.message };
      if (outcome.kind === "retry" && outcome.status !== undefined && outcome.status >= 500) return { ok: false, status: outcome.status, message: outcome.message };
      if (outcome.kind === "aborted") throw new Error("aborted: isolation interrupted; the batch stays in the outbox");
      this.metrics.rwRetries.inc({ target: this.name, reason: outcome.reason });
      await this.sleep.wait(outcome.retryAfterMs ?? this.maxBackoffMs);
    }
  }

  private moveToDeadLetters(batch: OutboxBatch, reason: "status_4xx" | "max_retry_duration", status: string, message: string): void {
    this.outbox.deadLetter(batch, status, message);
    this.budget.forget();
    this.metrics.rwDeadLettered.inc({ target: this.name, reason }, batch.samples);
    this.log.error({ reason, status, batchId: batch.id, samples: batch.samples, body: message }, "remote-write batch refused; moved to dead letters");
    this.updateGauges();
  }

  /** One POST of the stored payload, timed and counted; never throws. */
  private async send(batch: OutboxBatch): Promise<Outcome> {
    return this.sendPayload(batch.payload);
  }

  private async sendPayload(payload: Uint8Array): Promise<Outcome> {
    const controller = new AbortController();
    this.controllers.add(controller);
    const stopTimer = this.metrics.rwDuration.startTimer({ target: this.name });
    try {
      const outcome = await postBatch(this.transport, this.authorize, payload, this.timeoutMs, controller);
      if (outcome.kind !== "aborted") {
        const code = outcome.kind !== "retry" || outcome.status !== undefined ? String(outcome.status) : "error";
        this.metrics.rwRequests.inc({ target: this.name, code });
      }
      return outcome;
    } finally {
      stopTimer();
      this.controllers.delete(controller);
    }
  }

  private noteError(
    err: NonNullable<SenderStatus["lastError"]>,
    warn = true,
    fields: Record<string, unknown> = {},
  ): void {
    this.lastError = err;
    const allowed = warn ? this.repeats.check("error", err.message) : null;
    if (allowed) this.log.warn({ ...fields, status: err.status, ...(allowed.suppressed > 0 ? { suppressed: allowed.suppressed } : {}) }, `remote-write failed: ${err.message}`);
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

  private updateGauges(): void {
    updateOutboxGauges(this.outbox, this.metrics, this.name);
  }
}
