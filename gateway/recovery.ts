import type { Logger } from "pino";
import type { Metrics } from "./metrics/catalogue.js";
import type { Outbox } from "./outbox/outbox.js";
import { Journal, KIND_RESUME, type JournalEntry } from "./outbox/journal.js";
import { sqliteCode } from "./outbox/errors.js";
import { isFullError, type StorageSpace } from "./outbox/space.js";
import type { OutboxSink, PendingFlush } from "./remote-write/pending-series.js";
import type { Core } from "./core.js";
import { CheckpointEncoder, checkpointBlobId, decodeCheckpoint, encodeCheckpointRef, type CheckpointJob } from "./recovery-codec.js";
import { crashPoint } from "./crash-hook.js";
import { JournalWriter } from "./outbox/journal-writer.js";

export interface DurabilityOptions {
  outbox: Outbox;
  /** The current outbox sink and core: a config reload replaces both. */
  sink: () => OutboxSink;
  core: () => Core;
  /** Runs one journaled message through the pipeline; `committed` = its raw samples are already in the outbox (replay). */
  process: (entry: JournalEntry, committed: boolean) => void;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  /** storage.checkpoint_interval (0: only when a window flushed, at the journal bound and at shutdown). */
  checkpointIntervalMs: number;
  /** The journal is checkpointed (and truncated) when it holds more than this many bytes. */
  journalMaxBytes: number;
  storagePath: string;
  /** Journal group commits on a writer thread (default); false: on the main connection, blocking the event loop for each fsync. */
  writerThread?: boolean;
  /**
   * Checkpoints of at least this many active input series are written off the event loop (see
   * "Checkpoints off the event loop" below); smaller ones in the tick's own transaction. Default
   * 50,000, or EDGEGATE_CHECKPOINT_OFFLOAD_MIN_SERIES (tests set 0 to drive every checkpoint that way).
   */
  checkpointOffloadMinSeries?: number;
}

/** A checkpoint being written off the event loop: the journal position and clock it covers, its encoding, its blob. */
interface Offload {
  seq: number;
  now: number;
  job: CheckpointJob;
  t0: number;
  timer: NodeJS.Immediate | null;
  /** Handed to the writer thread as this blob (0: still encoding). */
  blobId: number;
  bytes: number;
}

/** After a checkpoint's commit, the journal behind it is deleted this much later (the sender's request goes out first). */
const TRUNCATE_DELAY_MS = 20;
/**
 * An offloaded checkpoint encodes its series in slices of this many (0.3–0.5 ms each at a million
 * series on a quiet box) until OFFLOAD_TURN_MS of a turn is spent. A fixed count per turn (131,072
 * before) took 2–4 ms in most turns but 9–63 ms in the first ones of a checkpoint (cold series
 * objects, the buffer's growth, a scavenge), and the first ran in the tick's own turn, after its
 * flush: that turn is what a window close costs ingest, so it is kept to the flush alone.
 */
const OFFLOAD_SLICE = 16_384;
const OFFLOAD_TURN_MS = 4;

/** While full, a tick's commit that failed is tried again when room grew, or after this long. */
const FULL_RETRY_MS = 5000;

/**
 * Acknowledged means delivered: the ingest journal, the checkpoints and the
 * outbox as one recovery model (Flink's): a checkpoint is the aggregation
 * state plus the journal position it covers, committed in the SAME
 * transaction as the outbox rows it emitted; at start the checkpoint is
 * restored and the journal after it replayed, in the order it was accepted,
 * with each message's own arrival time as the pipeline clock, so the state
 * after replay is the state the crashed process had.
 *
 * Disk full is a state: a commit that fails for lack of space makes the
 * gateway refuse publishes (no PUBACK; the device keeps the message), report
 * not ready, and keep delivering (deleting frees pages; StorageSpace keeps
 * deletes possible on a full disk); outputs of the tick whose commit failed
 * stay buffered and are committed by a later tick, which also truncates the
 * journal. Acknowledging resumes once inserts have room again
 * (SpacePlan.resumeBytes: hysteresis) and the reserve file could be made again.
 *
 * Checkpoints off the event loop (issue #12: a flush must not stall ingest
 * for more than 50 ms). At a million active input series a checkpoint is
 * ~12 MB (recovery-codec.ts); encoding it took 40–70 ms of event loop and
 * SQLite's write and fsync of it 20–110 ms more, after every tick that
 * flushed a window. For a big state the tick's commit is therefore deferred,
 * not split: processing of committed messages is held (the group committer
 * keeps acknowledging them — they are durable in the journal — and processes
 * them, in order, afterwards), so the state and the journal position stay
 * exactly those of the tick; the state is encoded a slice per event-loop
 * turn; the journal's writer thread stores the bytes as a blob in their own
 * transaction, with fsync; then the tick's transaction commits as always —
 * outbox rows, journal position and a checkpoint row that
 * refers to the blob, with the order guard beside it. A blob no committed
 * checkpoint refers to (a stop in between) is deleted at the next start or
 * blob. Ticks wait while it runs (no window is flushed from a state being
 * encoded); shutdown, a config reload and a resume settle it first. If the
 * blob cannot be stored, the checkpoint is written in the transaction as for
 * a small state. Why not incremental rows instead: in the steady state every
 * series sends into the open window between two checkpoints, so the part
 * that changed is the whole window and the bytes stay the same; they have
 * to leave the event loop.
 */
export class Durability {
  readonly journal: Journal;
  /** Group commits on a writer thread with its own connection (none for an in-memory database, which one connection owns). */
  private readonly writer: JournalWriter | null;
  /** Checkpoints as binary rows, in a buffer kept from one checkpoint to the next (recovery-codec.ts). */
  private readonly encoder = new CheckpointEncoder();
  private processedSeq = 0;
  private outboxSeq = 0;
  private checkpointSeq = 0;
  private checkpointedAt = 0;
  private checkpointedWindows = 0;
  private full: string | null = null;
  private readonly space: StorageSpace | null;
  private governedAt = -Infinity;
  /** While full: when the tick's commit last failed, and the room it had then. */
  private fullTry = { atMs: -Infinity, room: -1 };
  /** The last "accepting from here" (a reload's new core continues the restart's grace from it). */
  resumedAtMs = -Infinity;
  /** Set by the gateway: holds (true) or resumes processing of committed messages (the group committer's). Unset: every checkpoint is written in the tick's transaction. */
  holdProcessing: ((on: boolean) => void) | null = null;
  private offload: Offload | null = null;
  private readonly settledWaiters: (() => void)[] = [];
  /** The blob the committed checkpoint row refers to (0: none), and the last blob id used. */
  private committedBlob = 0;
  private lastBlob = 0;
  private readonly offloadMinSeries: number;
  /**
   * The journal behind a committed checkpoint, still to be deleted (-1: none), and the timer that
   * deletes it in a transaction of its own (see `write`).
   */
  private truncateBehind = -1;
  private truncateTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: DurabilityOptions) {
    this.journal = new Journal(o.outbox.connection());
    this.space = o.outbox.space;
    if (this.space !== null) {
      this.space.onFull = (err, what) => this.onWriteError(err, what);
      // Start on a full disk: refuse from the first publish instead of learning it from a failed commit.
      const reserved = this.space.makeReserve();
      const room = this.space.room();
      if (!reserved || room < this.space.plan.resumeBytes) {
        this.enterFull(`storage full at start: ${room} bytes of room on ${o.storagePath}${reserved ? "" : ", and no room for the reserve file"}; not acknowledging messages until space is free`, null);
      }
    }
    // The writer thread's connection gets the same WAL bounds as the outbox's (they are per connection).
    this.writer =
      o.storagePath === ":memory:" || o.writerThread === false
        ? null
        : new JournalWriter(o.storagePath, this.space === null ? undefined : { walPages: this.space.plan.walPages, walLimitBytes: this.space.plan.walLimitBytes });
    if (this.writer) this.writer.onBroken = (err) => o.log.error({ err: err.message }, "journal writer thread failed; committing the journal on the main thread");
    const fromEnv = Number(process.env["EDGEGATE_CHECKPOINT_OFFLOAD_MIN_SERIES"] ?? Number.NaN);
    this.offloadMinSeries = o.checkpointOffloadMinSeries ?? (Number.isFinite(fromEnv) ? fromEnv : 50_000);
  }

  /** Restores the last checkpoint and replays the journal after it. Call before anything is accepted. */
  recover(): { checkpointSeq: number; replayed: number; skippedRaw: number } {
    const { log } = this.o;
    const sink = this.o.sink();
    const core = this.o.core();
    const aggregate = core.built.aggregate;
    const cp = this.journal.load("checkpoint");
    if (cp !== undefined) {
      try {
        // Format 2 (binary) or the JSON text of earlier versions; anything else throws and is logged below.
        const data = decodeCheckpoint(cp.data, (id) => this.journal.loadBlob(id));
        const report = core.restoreSnapshot(data.aggregate, this.o.now(), data.blocks);
        if (report.clamped) log.warn({ rules: report.clamped.rules, windows: report.clamped.windows }, "aggregation checkpoint held state beyond now + ingest.max_future_skew; discarded it");
        for (const line of report.discarded ?? []) log.warn({ checkpoint_seq: cp.seq }, line);
        sink.restoreOrderState(data.order);
        log.info({ rules: report.rules, windows: report.windows, checkpoint_seq: cp.seq, checkpoint_format: data.format, checkpoint_age_ms: this.o.now() - cp.savedMs }, "aggregation state restored from checkpoint");
      } catch (err) {
        log.error({ err, checkpoint_seq: cp.seq }, "checkpoint not readable; replaying the journal into empty windows");
      }
      this.checkpointSeq = cp.seq;
      this.committedBlob = checkpointBlobId(cp.data) ?? 0;
    }
    try {
      // Blobs of checkpoints that were not committed (a stop between the blob and its commit), or superseded.
      this.journal.dropBlobs(this.committedBlob);
    } catch (err) {
      log.warn({ err }, "could not delete checkpoint blobs no checkpoint refers to; trying again at the next blob");
    }
    this.lastBlob = Math.max(this.journal.lastBlobId(), this.committedBlob);
    try {
      // Rows the checkpoint covers, whose DELETE the writer thread had not run when the process stopped.
      const dropped = this.journal.dropCovered(this.checkpointSeq);
      if (dropped > 0) log.info({ rows: dropped, checkpoint_seq: this.checkpointSeq }, "deleted journal rows the checkpoint covers");
    } catch (err) {
      log.warn({ err }, "could not delete journal rows the checkpoint covers; the next checkpoint deletes them");
    }
    this.outboxSeq = Math.max(this.checkpointSeq, this.journal.load("outbox")?.seq ?? 0);
    this.processedSeq = this.checkpointSeq;
    let replayed = 0;
    let skippedRaw = 0;
    for (const rec of this.journal.after(this.checkpointSeq)) {
      if (rec.kind === KIND_RESUME) {
        aggregate.resume(rec.receivedMs);
        this.resumedAtMs = rec.receivedMs;
      }
      else {
        const committed = rec.seq <= this.outboxSeq;
        if (committed) skippedRaw++;
        this.o.process(rec, committed);
        replayed++;
        crashPoint("during_replay");
      }
      this.processedSeq = rec.seq;
    }
    this.checkpointedAt = this.o.now();
    this.checkpointedWindows = aggregate.flushedWindows;
    if (replayed > 0) log.info({ replayed, from_seq: this.checkpointSeq, raw_already_in_outbox: skippedRaw }, "journal replayed");
    this.gauges();
    return { checkpointSeq: this.checkpointSeq, replayed, skippedRaw };
  }

  /** Processes the groups committed and not yet processed (the group committer's; set by the gateway). */
  processCommitted: () => void = () => {};

  /** Journals "accepting from now on" (a restart's allowed lateness counts from here) and applies it. */
  resume(ms: number): void {
    this.settle();
    // Groups in flight on the writer thread, or reported and not processed yet, have lower seqs
    // than this row: process them first, so processedSeq never passes an entry that was not processed.
    this.writer?.waitIdle();
    this.processCommitted();
    this.o.core().built.aggregate.resume(ms);
    this.resumedAtMs = ms;
    try {
      this.processedSeq = this.journal.append([{ receivedMs: ms, topic: "", clientId: "", payload: Buffer.alloc(0) }], KIND_RESUME);
    } catch (err) {
      this.onWriteError(err, "journal");
    }
  }

  /** The group commit's commit: journal rows in one transaction. */
  commitGroup(entries: readonly JournalEntry[]): number {
    this.governSoon();
    if (crashPointArmed("mid_group_commit")) {
      return this.o.outbox.connection().transaction(() => {
        const seq = this.journal.append(entries);
        crashPoint("mid_group_commit");
        return seq;
      })();
    }
    return this.journal.append(entries);
  }

  /**
   * The group commit handed to the writer thread (false: not available now, commit with
   * commitGroup). `done` runs on this thread after the commit; the rows are booked first.
   */
  commitGroupAsync(entries: readonly JournalEntry[], done: (err: Error | null, lastSeq: number) => void, durable = true): boolean {
    if (this.writer === null || !this.writer.available()) return false;
    this.governSoon();
    // max_page_count is per connection: the thread's inserts obey the page limit the outbox's follow.
    this.writer.submit(
      entries,
      (err, lastSeq) => {
        if (err === null) this.journal.appended(entries, lastSeq);
        done(err, lastSeq);
      },
      this.space?.pageLimit() ?? -1,
      durable,
    );
    return true;
  }

  /** Whether the journal's writer thread was started (it starts on the first group commit or a big checkpoint). */
  writerStarted(): boolean {
    return this.writer?.started() ?? false;
  }

  /** Starts the journal's writer thread if it is not running; whether it is ready (it opens the file asynchronously). */
  writerReady(): boolean {
    return this.writer?.available() ?? false;
  }

  /** Blocks until the writer thread has reported every group handed to it (their completions run here). */
  waitIdle(): void {
    this.writer?.waitIdle();
  }

  /** Whether the writer thread reported a commit the event loop has not received yet. */
  reportWaiting(): boolean {
    return this.writer?.replyWaiting() ?? false;
  }

  /** Receives the writer thread's waiting reports now (their completions run here). */
  receiveReports(): void {
    this.writer?.receiveReplies();
  }

  /** Ends the writer thread (after the final tick; the outbox connection closes after it). */
  close(): void {
    this.settle();
    this.truncateNow();
    this.writer?.close();
  }

  /** A group commit is durable; nothing of it is processed or acknowledged yet. */
  groupReported(): void {
    crashPoint("after_journal_commit");
  }

  /** Processes a committed group, in journal order (groups reported by the writer thread: after their acknowledgement). */
  committedGroup(entries: readonly JournalEntry[], lastSeq: number): void {
    for (const e of entries) this.o.process(e, false);
    this.processedSeq = lastSeq;
  }

  /** A group commit failed: a reason to stop acknowledging when the disk is full. */
  groupFailed(err: unknown, entries: readonly JournalEntry[]): string | null {
    const reason = this.onWriteError(err, "journal");
    // Refused, not lost: QoS 1/2 senders keep the message (no PUBACK) and send it again.
    if (reason === null) this.o.metrics.messagesDropped.inc({ reason: "journal_write_failed" }, entries.length);
    else this.o.metrics.messagesDropped.inc({ reason: "storage_full" }, entries.length);
    return reason;
  }

  /**
   * The tick's commit, one transaction: the outbox rows buffered since the
   * last one, the journal position they cover, and — when a window or stale
   * marker was emitted, checkpoint_interval elapsed, the journal outgrew its
   * bound, at shutdown, or when `force`d (a config reload's swap) — the
   * checkpoint and the journal truncated behind it. Returns false when the
   * commit failed (what was buffered stays buffered) or was not tried (full).
   */
  commit(emitted: boolean, final: boolean, force = false): boolean {
    if (this.offload !== null) {
      // A checkpoint is being written off the event loop and processing is held: nothing new to commit.
      if (!final && !force) return true;
      this.settle();
    }
    const sink = this.o.sink();
    const aggregate = this.o.core().built.aggregate;
    const now = this.o.now();
    this.governSoon();
    if (this.full !== null) {
      this.space?.checkpoint();
      // Outputs buffered while full are committed as soon as they fit, with a checkpoint that
      // truncates the journal (the journal only shrinks so). A failed try costs an encoding, so
      // it is repeated only when room grew (deliveries deleted rows), or after FULL_RETRY_MS.
      const fullRoom = this.space?.room() ?? 0;
      const due = fullRoom > this.fullTry.room || now - this.fullTry.atMs >= FULL_RETRY_MS;
      if (!due && !final && !force) {
        this.probe();
        return false;
      }
      this.fullTry = { atMs: now, room: fullRoom };
    }
    const jstats = this.journal.stats();
    const wantCheckpoint =
      (this.full !== null && jstats.rows > 0) ||
      force ||
      final ||
      emitted ||
      aggregate.flushedWindows !== this.checkpointedWindows ||
      jstats.bytes > this.o.journalMaxBytes ||
      (this.o.checkpointIntervalMs > 0 && now - this.checkpointedAt >= this.o.checkpointIntervalMs && this.processedSeq > this.checkpointSeq);
    // Nothing to commit but the outbox position: entries processed since the last commit that
    // left no samples in the outbox. Replay writes their samples again only if they have any, so
    // the position waits for the next commit with rows or a checkpoint. Writing it alone each tick
    // (~1/s under a steady QoS 1 stream) cost a transaction with fsync that waited for the writer
    // thread's lock and held it against the thread's group commits (~6 ms of event loop per tick).
    if (!wantCheckpoint && sink.pending() === 0 && (this.processedSeq === this.outboxSeq || !sink.unpositioned())) {
      this.probe();
      return true;
    }
    if (wantCheckpoint && !final && !force && this.full === null && this.offloadable()) {
      this.startOffload(now);
      return true;
    }
    return this.write(wantCheckpoint, now, null, final);
  }

  /**
   * The tick's transaction (see commit). `stored`: the checkpoint's state is
   * in that blob already (written off the event loop); the row refers to it.
   */
  private write(wantCheckpoint: boolean, now: number, stored: Offload | null, final = false): boolean {
    const { outbox, metrics, log } = this.o;
    const sink = this.o.sink();
    const aggregate = this.o.core().built.aggregate;
    const seq = this.processedSeq;
    const t0 = stored?.t0 ?? performance.now();
    let removed: { rows: number; bytes: number; seq?: number; later?: boolean } = { rows: 0, bytes: 0 };
    let bytes = 0;
    let pending: PendingFlush | undefined;
    // Deleting the journal behind the checkpoint (tens of thousands of rows per window at 100k
    // messages/s: 75-400 ms, and as many WAL pages for this commit's fsync) is not needed for the
    // outbox rows to be sent: rows at or before the checkpoint's position are never replayed. So it
    // is left to the writer thread when it can take it (`later`, see truncateLater), else it runs in
    // a transaction of its own right after this one (`deferred`, see truncateSoon): either way off
    // the path from a window's close to its request. A crash in between leaves rows behind the
    // checkpoint, deleted at the next start. On a full disk and at the final commit it stays in this
    // transaction (its pages make room for the outbox rows; a clean stop leaves an empty journal).
    const roomy = wantCheckpoint && !final && this.truncateRoomy();
    const later = roomy && this.truncateLater();
    const deferred = roomy && !later;
    try {
      outbox.atomically(() => {
        // The journal's rows go first: their pages are free for this transaction's own outbox rows,
        // so a checkpoint needs only the difference (on a full disk it may need none).
        if (wantCheckpoint && !deferred) removed = this.journal.truncate(seq, later);
        else if (this.truncateBehind >= 0) removed = this.journal.truncate(this.truncateBehind);
        pending = sink.flushAtomic();
        this.journal.savePosition("outbox", seq, now);
        if (wantCheckpoint) {
          // Binary (recovery-codec.ts): the windows' timestamps as 32-bit words, the rest as JSON;
          // or a reference to the blob holding them, with the order guard as this commit leaves it.
          const data =
            stored !== null
              ? encodeCheckpointRef(stored.blobId, sink.orderState(pending))
              : this.encoder.encode(
                  (blocks) => aggregate.snapshot(blocks),
                  () => sink.orderState(pending),
                );
          bytes = data.length + (stored?.bytes ?? 0);
          this.journal.savePosition("checkpoint", seq, now, data);
        }
        crashPoint("mid_outbox_commit");
      });
    } catch (err) {
      pending?.rolledBack();
      if (wantCheckpoint) metrics.checkpoints.inc({ result: "failure" });
      const reason = this.onWriteError(err, "outbox");
      if (reason === null) log.error({ err }, "could not commit to the outbox; the samples stay buffered for the next tick");
      return false;
    }
    crashPoint("after_outbox_commit");
    pending?.committed();
    this.outboxSeq = seq;
    if (removed.seq !== undefined) {
      if (removed.later === true && !this.writer!.truncate(seq)) this.journal.deleteThrough(seq);
      this.journal.truncated(removed);
      if (removed.seq >= this.truncateBehind) this.truncateBehind = -1;
    }
    if (deferred) this.truncateSoon(seq);
    if (wantCheckpoint) {
      this.checkpointSeq = seq;
      this.checkpointedAt = now;
      this.checkpointedWindows = aggregate.flushedWindows;
      this.committedBlob = stored?.blobId ?? 0;
      metrics.checkpoints.inc({ result: "success" });
      metrics.checkpointBytes.set(bytes);
      metrics.checkpointDuration.set((performance.now() - t0) / 1000);
    }
    this.probe();
    this.gauges();
    return true;
  }

  /** The journal behind the checkpoint at `seq` is deleted in its own transaction, after the sender had its turn. */
  private truncateSoon(seq: number): void {
    this.truncateBehind = seq;
    if (this.truncateTimer !== null) return;
    this.truncateTimer = setTimeout(() => {
      this.truncateTimer = null;
      this.truncateNow();
    }, TRUNCATE_DELAY_MS);
    this.truncateTimer.unref();
  }

  /** Deletes the journal behind the last checkpoint if that is still to be done (also at close). */
  truncateNow(): void {
    if (this.truncateTimer !== null) clearTimeout(this.truncateTimer);
    this.truncateTimer = null;
    const seq = this.truncateBehind;
    if (seq < 0) return;
    let removed: { rows: number; bytes: number; seq?: number } = { rows: 0, bytes: 0 };
    try {
      this.o.outbox.atomically(() => {
        removed = this.journal.truncate(seq);
      });
    } catch (err) {
      // The rows stay (never replayed: they are behind the checkpoint); the next commit deletes them.
      if (this.onWriteError(err, "journal truncation") === null) this.o.log.warn({ err }, "could not delete the journal behind the checkpoint; trying again at the next commit");
      return;
    }
    this.journal.truncated(removed);
    if (this.truncateBehind === seq) this.truncateBehind = -1;
    this.gauges();
  }

  /**
   * Whether a checkpoint's journal DELETE may leave its transaction: only with room to spare. On a
   * full or nearly full disk the freed pages are what the checkpoint's own outbox rows are written
   * into. (Not at the final commit either: a clean stop leaves an empty journal.)
   */
  private truncateRoomy(): boolean {
    if (this.full !== null) return false;
    return this.space === null || this.space.room() >= this.space.plan.resumeBytes + this.journal.stats().bytes;
  }

  /**
   * Whether a checkpoint leaves the DELETE of the journal's rows behind it to the writer thread. At
   * ~25,000 messages a second that DELETE (and the WAL pages it writes in the tick's commit) took
   * ~2 % of the event loop; on the writer thread it runs in slices in the gaps between group
   * commits. Only while the thread runs (a gateway that has not started it does not start it for
   * this) and has finished the previous one: a stream without a quiet gap of the thread's leaves
   * the delete to a transaction of its own on this thread (truncateSoon), which takes both, so the
   * rows behind checkpoints never pile up. Rows a stop leaves behind the checkpoint are deleted at
   * the next start (recover).
   */
  private truncateLater(): boolean {
    return this.writer !== null && this.writer.started() && this.writer.available() && this.writer.truncateDone();
  }

  /** A checkpoint is being written off the event loop (processing is held): the gateway's tick waits. */
  busy(): boolean {
    return this.offload !== null;
  }

  /** Resolves when no checkpoint is being written off the event loop (an HTTP push's outcome needs processing). */
  settled(): Promise<void> {
    return this.offload === null ? Promise.resolve() : new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /**
   * Finishes a checkpoint being written off the event loop now (shutdown, a
   * config reload, a resume): waits for its blob, or, still encoding, writes
   * it in a transaction at once; then processing resumes.
   */
  settle(): void {
    const o = this.offload;
    if (o === null) return;
    if (o.blobId > 0) this.writer?.waitIdle(); // its reply runs offloadStored here
    if (this.offload === o) this.endOffload(o, true);
  }

  private offloadable(): boolean {
    if (this.holdProcessing === null || this.writer === null) return false;
    if (this.o.core().built.aggregate.stats().seriesActive < this.offloadMinSeries) return false;
    // Asked only for a big state: available() starts the writer thread (~8 MB of RSS for its isolate
    // and SQLite connection), which a gateway that never gets QoS 1 messages or a big state does not need.
    return this.writer.available();
  }

  /** Holds processing at the tick's journal position and encodes the state a slice per turn (see "Checkpoints off the event loop"). */
  private startOffload(now: number): void {
    const aggregate = this.o.core().built.aggregate;
    this.holdProcessing!(true);
    // The order guard goes into the row that refers to the blob: it is read in that commit's transaction.
    const job = this.encoder.begin((blocks) => aggregate.snapshot(blocks), () => []);
    const o: Offload = { seq: this.processedSeq, now, job, t0: performance.now(), timer: null, blobId: 0, bytes: 0 };
    this.offload = o;
    o.timer = setImmediate(() => this.offloadStep(o)); // not in the tick's turn (see OFFLOAD_SLICE)
  }

  private offloadStep(o: Offload): void {
    o.timer = null;
    if (this.offload !== o) return;
    const until = performance.now() + OFFLOAD_TURN_MS;
    let r = o.job.step(OFFLOAD_SLICE);
    while (r === 0 && performance.now() < until) r = o.job.step(OFFLOAD_SLICE);
    if (r === 0) {
      o.timer = setImmediate(() => this.offloadStep(o));
      return;
    }
    // A window whose timestamps do not pack, or no writer thread any more: written in a transaction now.
    if (r < 0 || this.writer === null || !this.writer.available()) return this.endOffload(o, true);
    const bytes = o.job.finish();
    o.blobId = ++this.lastBlob;
    o.bytes = bytes.length;
    this.writer.submitBlob(o.blobId, this.committedBlob, bytes, (err) => this.offloadStored(o, err), this.space?.pageLimit() ?? -1);
  }

  private offloadStored(o: Offload, err: Error | null): void {
    if (this.offload !== o) return;
    this.offload = null;
    if (err !== null || this.processedSeq !== o.seq) {
      if (err !== null) this.o.log.warn({ err: err.message, blob: o.blobId }, "the checkpoint blob was not stored; writing the checkpoint in the tick's transaction");
      this.write(true, o.now, null);
    } else {
      crashPoint("after_checkpoint_blob");
      this.write(true, o.now, o);
    }
    this.release();
  }

  /** Ends an offloaded checkpoint before its blob was stored; `commitNow`: write it in a transaction now (the state is still the tick's). */
  private endOffload(o: Offload, commitNow: boolean): void {
    if (o.timer !== null) clearImmediate(o.timer);
    this.offload = null;
    if (commitNow) this.write(true, o.now, null);
    this.release();
  }

  private release(): void {
    this.holdProcessing?.(false);
    for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  /** Why publishes are refused (disk full), or null. */
  refusal(): string | null {
    return this.full;
  }

  /** Called when the reason changes (the broker's group committer refuses while it is set). */
  onRefusalChange: (reason: string | null) => void = () => {};

  stats(): { journalRows: number; journalBytes: number; checkpointSeq: number; outboxSeq: number; processedSeq: number } {
    const j = this.journal.stats();
    return { journalRows: j.rows, journalBytes: j.bytes, checkpointSeq: this.checkpointSeq, outboxSeq: this.outboxSeq, processedSeq: this.processedSeq };
  }

  gauges(): void {
    const j = this.journal.stats();
    this.o.metrics.journalRows.set(j.rows);
    this.o.metrics.journalBytes.set(j.bytes);
    this.o.metrics.storageFull.set(this.full === null ? 0 : 1);
  }

  /** A write failed: SQLITE_FULL / ENOSPC make the storage "full" (refuse, not ready); other errors are the caller's to log. */
  private onWriteError(err: unknown, what: string): string | null {
    if (!isFullError(err)) return null;
    if (this.full === null) {
      // Give the reserve back and restart the WAL, so that deletes commit (the outbox's own writes do this themselves).
      this.space?.makeRoom();
      this.enterFull(`storage full: ${what} commit failed (${sqliteCode(err)}) on ${this.o.storagePath}; not acknowledging messages until space is free`, (err as Error)?.message ?? String(err));
    }
    return this.full;
  }

  /** The page limit follows the free file-system space (other files on the disk come and go): at most every 50 ms. */
  private governSoon(): void {
    const t = performance.now();
    if (t - this.governedAt < 50) return;
    this.governedAt = t;
    this.space?.govern();
  }

  private enterFull(reason: string, err: string | null): void {
    this.full = reason;
    // The commit that failed is tried again only when room grew.
    this.fullTry = { atMs: this.o.now(), room: this.space?.room() ?? 0 };
    this.o.log.error(err === null ? {} : { err }, reason);
    this.o.metrics.storageFullEvents.inc();
    this.onRefusalChange(reason);
    this.gauges();
  }

  /** While full: accept again once inserts have room (hysteresis) and the reserve file could be made again. */
  private probe(): void {
    if (this.full === null) return;
    if (this.space !== null) {
      const room = this.space.room();
      if (room < this.space.plan.resumeBytes) return;
      if (!this.space.makeReserve()) return;
      this.o.log.warn({ path: this.o.storagePath, room_bytes: room, fs_free_bytes: this.space.fsFree() }, "storage has room again; acknowledging messages");
    }
    this.full = null;
    this.onRefusalChange(null);
    this.gauges();
  }
}

function crashPointArmed(name: string): boolean {
  return process.env["EDGEGATE_CRASH_AT"] === name;
}
