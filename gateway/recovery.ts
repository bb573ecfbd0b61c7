import type { Logger } from "pino";
import type { Metrics } from "./metrics/catalogue.js";
import type { Outbox } from "./outbox/outbox.js";
import { Journal, KIND_RESUME, type JournalEntry } from "./outbox/journal.js";
import { sqliteCode } from "./outbox/errors.js";
import { isFullError, type StorageSpace } from "./outbox/space.js";
import type { OutboxSink, PendingFlush } from "./remote-write/pending-series.js";
import type { Core } from "./core.js";
import { CheckpointEncoder, decodeCheckpoint } from "./recovery-codec.js";
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
}

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
        const data = decodeCheckpoint(cp.data);
        const report = core.restoreSnapshot(data.aggregate, this.o.now(), data.blocks);
        if (report.clamped) log.warn({ rules: report.clamped.rules, windows: report.clamped.windows }, "aggregation checkpoint held state beyond now + ingest.max_future_skew; discarded it");
        for (const line of report.discarded ?? []) log.warn({ checkpoint_seq: cp.seq }, line);
        sink.restoreOrderState(data.order);
        log.info({ rules: report.rules, windows: report.windows, checkpoint_seq: cp.seq, checkpoint_format: data.format, checkpoint_age_ms: this.o.now() - cp.savedMs }, "aggregation state restored from checkpoint");
      } catch (err) {
        log.error({ err, checkpoint_seq: cp.seq }, "checkpoint not readable; replaying the journal into empty windows");
      }
      this.checkpointSeq = cp.seq;
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

  /** Blocks until the writer thread has reported every group handed to it (their completions run here). */
  waitIdle(): void {
    this.writer?.waitIdle();
  }

  /** Ends the writer thread (after the final tick; the outbox connection closes after it). */
  close(): void {
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
    const { outbox, metrics, log } = this.o;
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
    if (!wantCheckpoint && sink.pending() === 0 && this.processedSeq === this.outboxSeq) {
      this.probe();
      return true;
    }
    const seq = this.processedSeq;
    const t0 = performance.now();
    let removed: { rows: number; bytes: number; seq?: number } = { rows: 0, bytes: 0 };
    let bytes = 0;
    let pending: PendingFlush | undefined;
    try {
      outbox.atomically(() => {
        // The journal's rows go first: their pages are free for this transaction's own outbox rows,
        // so a checkpoint needs only the difference (on a full disk it may need none).
        if (wantCheckpoint) removed = this.journal.truncate(seq);
        pending = sink.flushAtomic();
        this.journal.savePosition("outbox", seq, now);
        if (wantCheckpoint) {
          // Binary (recovery-codec.ts): the windows' timestamps as typed arrays, the rest as JSON.
          const data = this.encoder.encode(
            (blocks) => aggregate.snapshot(blocks),
            () => sink.orderState(pending),
          );
          bytes = data.length;
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
    if (wantCheckpoint) {
      this.journal.truncated(removed);
      this.checkpointSeq = seq;
      this.checkpointedAt = now;
      this.checkpointedWindows = aggregate.flushedWindows;
      metrics.checkpoints.inc({ result: "success" });
      metrics.checkpointBytes.set(bytes);
      metrics.checkpointDuration.set((performance.now() - t0) / 1000);
    }
    this.probe();
    this.gauges();
    return true;
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
