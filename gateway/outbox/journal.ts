import type Database from "better-sqlite3";

/** One accepted message as journaled: what the pipeline needs to process it again, identically. */
export interface JournalEntry {
  /** Arrival time (ms): the timestamp of samples without their own, and the pipeline's clock for this message. */
  receivedMs: number;
  topic: string;
  clientId: string;
  payload: Buffer;
}

/** A journaled entry with its position. kind 0 = a message; kind 1 = "the gateway resumed accepting at receivedMs". */
export interface JournalRecord extends JournalEntry {
  seq: number;
  kind: number;
}

/** The aggregation (and order-guard) state at a journal position: what recovery restores before replaying. */
export interface Checkpoint {
  /** Every journal entry with seq ≤ this is reflected in `data` and in the outbox. */
  seq: number;
  savedMs: number;
  /** As written: a Buffer (binary checkpoint, a BLOB) or text (JSON, as earlier versions wrote; the outbox position's ""). */
  data: string | Buffer;
}

export const KIND_MESSAGE = 0;
export const KIND_RESUME = 1;

/** One journal row; the writer thread (journal-worker.ts) prepares the same statement on its own connection. */
export const JOURNAL_INSERT_SQL = "INSERT INTO journal (received_ms, kind, topic, client, payload) VALUES (?, ?, ?, ?, ?)";

/**
 * A slice of a truncation the writer thread runs after its own commits (journal-worker.ts): at most
 * `?2` of the oldest rows with seq ≤ `?1`, so no single statement holds the write lock for long.
 */
export const JOURNAL_TRUNCATE_SLICE_SQL = "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE seq <= ? ORDER BY seq LIMIT ?)";

/** A checkpoint's bytes stored ahead of the commit that refers to them (the writer thread prepares these on its own connection). */
export const CHECKPOINT_BLOB_INSERT_SQL = "INSERT OR REPLACE INTO checkpoint_blobs (id, data) VALUES (?, ?)";
/** Blobs neither being written (first) nor referred to by the committed checkpoint (second). */
export const CHECKPOINT_BLOB_GC_SQL = "DELETE FROM checkpoint_blobs WHERE id NOT IN (?, ?)";

const DDL = `
CREATE TABLE IF NOT EXISTS journal (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  received_ms INTEGER NOT NULL,
  kind        INTEGER NOT NULL,
  topic       TEXT NOT NULL,
  client      TEXT NOT NULL,
  payload     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery (
  name     TEXT PRIMARY KEY,
  seq      INTEGER NOT NULL,
  saved_ms INTEGER NOT NULL,
  data     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_blobs (
  id   INTEGER PRIMARY KEY,
  data BLOB NOT NULL
);
`;

/**
 * The ingest journal: every accepted MQTT message, appended in arrival order
 * before the broker acknowledges it, in the outbox's own SQLite file and
 * connection (one fsync domain, and one transaction can hold journal,
 * outbox rows and checkpoint together).
 *
 * Two positions in table `recovery` make replay exact (Flink's model):
 * - `checkpoint`: aggregation state covering seq ≤ N, committed in the same
 *   transaction as the outbox rows it emitted, so a flushed window is either
 *   in both (never emitted again) or in neither (emitted again from replay);
 * - `outbox`: the last seq whose pass-through (raw) samples are committed to
 *   the outbox; replay re-aggregates entries after the checkpoint but writes
 *   raw samples only for entries after this position.
 * Entries at or behind the checkpoint are deleted in the checkpoint's transaction.
 */
export class Journal {
  private readonly insertStmt: Database.Statement<[number, number, string, string, Buffer]>;
  private readonly readStmt: Database.Statement<[number, number], { seq: number; received_ms: number; kind: number; topic: string; client: string; payload: Buffer }>;
  private readonly truncateRangeStmt: Database.Statement<[number, number], { bytes: number | null }>;
  private readonly putStmt: Database.Statement<[string, number, number, string | Buffer]>;
  private readonly getStmt: Database.Statement<[string], { seq: number; saved_ms: number; data: string | Buffer }>;
  private readonly appendTx: (entries: readonly JournalEntry[], kind: number) => number;
  private readonly deleteStmt: Database.Statement<[number]>;
  private readonly blobGetStmt: Database.Statement<[number], { data: Buffer }>;
  private readonly blobGcStmt: Database.Statement<[number, number]>;
  private readonly blobMaxStmt: Database.Statement<[], { id: number | null }>;
  private readonly countStmt: Database.Statement<[], { rows: number; bytes: number | null; first: number | null; last: number | null }>;
  private rowsCount = 0;
  private bytesCount = 0;
  /**
   * Rows and bytes per committed group, in seq order: a truncation books what it removed from
   * here instead of reading every deleted row back (RETURNING doubled the DELETE's cost on the
   * event loop, at every checkpoint). `first` is the group's first seq.
   */
  private readonly segments: { first: number; last: number; rows: number; bytes: number }[] = [];
  private last = 0;
  /** The seq up to which rows are booked as gone (a truncation left to the writer thread may not have deleted them yet). */
  private goneTo = 0;

  constructor(db: Database.Database) {
    db.exec(DDL);
    this.insertStmt = db.prepare(JOURNAL_INSERT_SQL);
    this.readStmt = db.prepare("SELECT seq, received_ms, kind, topic, client, payload FROM journal WHERE seq > ? ORDER BY seq LIMIT ?");
    this.deleteStmt = db.prepare("DELETE FROM journal WHERE seq <= ?");
    this.truncateRangeStmt = db.prepare("DELETE FROM journal WHERE seq > ? AND seq <= ? RETURNING length(payload) + length(CAST(topic AS BLOB)) + length(CAST(client AS BLOB)) AS bytes");
    this.putStmt = db.prepare(
      "INSERT INTO recovery (name, seq, saved_ms, data) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, saved_ms = excluded.saved_ms, data = excluded.data",
    );
    this.getStmt = db.prepare("SELECT seq, saved_ms, data FROM recovery WHERE name = ?");
    this.blobGetStmt = db.prepare("SELECT data FROM checkpoint_blobs WHERE id = ?");
    this.blobGcStmt = db.prepare(CHECKPOINT_BLOB_GC_SQL);
    this.blobMaxStmt = db.prepare("SELECT max(id) AS id FROM checkpoint_blobs");
    this.appendTx = db.transaction((entries: readonly JournalEntry[], kind: number) => {
      let seq = 0;
      for (const e of entries) seq = Number(this.insertStmt.run(e.receivedMs, kind, e.topic, e.clientId, e.payload).lastInsertRowid);
      return seq;
    });
    this.countStmt = db.prepare("SELECT count(*) AS rows, sum(length(payload) + length(CAST(topic AS BLOB)) + length(CAST(client AS BLOB))) AS bytes, min(seq) AS first, max(seq) AS last FROM journal");
    const t = this.countStmt.get()!;
    this.rowsCount = t.rows;
    this.bytesCount = t.bytes ?? 0;
    if (t.rows > 0) this.segments.push({ first: t.first!, last: t.last!, rows: t.rows, bytes: t.bytes ?? 0 });
    const seqRow = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").get() as { seq: number } | undefined;
    this.last = Math.max(t.last ?? 0, seqRow?.seq ?? 0, this.load("checkpoint")?.seq ?? 0);
  }

  /** Appends entries in one transaction (the group commit); returns the seq of the last. Throws (nothing stored) on failure. */
  append(entries: readonly JournalEntry[], kind = KIND_MESSAGE): number {
    if (entries.length === 0) return this.last;
    const seq = this.appendTx(entries, kind);
    this.book(entries, seq);
    this.last = seq;
    return seq;
  }

  /** Books entries another connection (the writer thread) committed, `lastSeq` being the last one's. */
  appended(entries: readonly JournalEntry[], lastSeq: number): void {
    this.book(entries, lastSeq);
    if (lastSeq > this.last) this.last = lastSeq;
  }

  /** One transaction's rows (AUTOINCREMENT seqs of one connection's transaction are consecutive). */
  private book(entries: readonly JournalEntry[], lastSeq: number): void {
    let bytes = 0;
    for (const e of entries) bytes += entrySize(e);
    this.rowsCount += entries.length;
    this.bytesCount += bytes;
    const prev = this.segments[this.segments.length - 1];
    if (prev !== undefined && prev.last >= lastSeq - entries.length + 1) {
      // Not after the last group (not expected): one segment for both, whose truncation reads its rows back.
      prev.first = Math.min(prev.first, lastSeq - entries.length + 1);
      prev.last = Math.max(prev.last, lastSeq);
      prev.rows += entries.length;
      prev.bytes += bytes;
      return;
    }
    this.segments.push({ first: lastSeq - entries.length + 1, last: lastSeq, rows: entries.length, bytes });
  }

  /** The seq of the newest committed entry (0 for an empty journal). */
  lastSeq(): number {
    return this.last;
  }

  /** Entries after `seq`, oldest first, read `page` rows at a time (replay). */
  *after(seq: number, page = 1000): Generator<JournalRecord> {
    let from = seq;
    for (;;) {
      const rows = this.readStmt.all(from, page);
      for (const r of rows) {
        from = r.seq;
        yield { seq: r.seq, kind: r.kind, receivedMs: r.received_ms, topic: r.topic, clientId: r.client, payload: r.payload };
      }
      if (rows.length < page) return;
    }
  }

  /**
   * Saves a recovery position (`checkpoint` or `outbox`). Call inside the
   * transaction that commits the outbox rows the position covers. A Buffer
   * is stored as a BLOB (column `data` has TEXT affinity, which keeps BLOBs
   * as they are) and read back as a Buffer.
   */
  savePosition(name: "checkpoint" | "outbox", seq: number, nowMs: number, data: string | Buffer = ""): void {
    this.putStmt.run(name, seq, nowMs, data);
  }

  load(name: "checkpoint" | "outbox"): Checkpoint | undefined {
    const r = this.getStmt.get(name);
    return r === undefined ? undefined : { seq: r.seq, savedMs: r.saved_ms, data: r.data };
  }

  /** A checkpoint blob (stored by the writer thread; a format-3 checkpoint row refers to it). */
  loadBlob(id: number): Buffer | undefined {
    return this.blobGetStmt.get(id)?.data;
  }

  /** Deletes the blobs other than `keep` (left by a run that stopped between a blob and the commit referring to it, or superseded). */
  dropBlobs(keep: number): void {
    this.blobGcStmt.run(keep, keep);
  }

  /** The highest blob id used so far (0: none). */
  lastBlobId(): number {
    return this.blobMaxStmt.get()?.id ?? 0;
  }

  /**
   * Rows left behind a committed checkpoint (its truncation was handed to the writer thread, which
   * had not run it when the process stopped): deleted at start, before replay, and the gauges
   * counted again. Returns the rows deleted.
   */
  dropCovered(seq: number): number {
    if (seq > this.goneTo) this.goneTo = seq;
    const n = this.deleteStmt.run(seq).changes;
    if (n === 0) return 0;
    const t = this.countStmt.get()!;
    this.rowsCount = t.rows;
    this.bytesCount = t.bytes ?? 0;
    this.segments.length = 0;
    if (t.rows > 0) this.segments.push({ first: t.first!, last: t.last!, rows: t.rows, bytes: t.bytes ?? 0 });
    return n;
  }

  /**
   * Deletes entries with seq ≤ `seq` (they are covered by a checkpoint). Call inside the checkpoint's
   * transaction; then `truncated(...)` after the commit. `later`: when `seq` ends a group (whole
   * groups go, booked from memory), the DELETE is left to the caller (the writer thread runs it
   * after its own commits, off the event loop) and the result says `later: true`; the rows count
   * as gone from the commit on. Of a group cut in two, the part up to `seq` is always deleted here
   * (its sizes are read back).
   */
  truncate(seq: number, later = false): { rows: number; bytes: number; seq?: number; later?: boolean } {
    let rows = 0;
    let bytes = 0;
    let i = 0;
    for (; i < this.segments.length && this.segments[i]!.last <= seq; i++) {
      rows += this.segments[i]!.rows;
      bytes += this.segments[i]!.bytes;
    }
    const cut = this.segments[i];
    if (cut === undefined || cut.first > seq) {
      // `seq` ends a group (a recovery position always does): whole groups go, booked from memory.
      if (later) return { rows, bytes, seq, later: true };
      this.deleteStmt.run(seq);
      return { rows, bytes, seq };
    }
    // A group cut in two (the tick that closes a window processes a group only up to the window's
    // close): the whole groups before it are booked from memory as above and deleted here, or with
    // `later` by the writer thread with the rest; the cut group's part is deleted here, its rows'
    // sizes read back. (Rows an earlier truncation booked as gone are all below `below`.)
    const below = i > 0 ? this.segments[i - 1]!.last : cut.first - 1;
    if (!later) this.deleteStmt.run(below);
    for (const r of this.truncateRangeStmt.iterate(below, seq)) {
      rows++;
      bytes += r.bytes ?? 0;
    }
    return later ? { rows, bytes, seq, later: true } : { rows, bytes, seq };
  }

  /** Deletes the rows with seq ≤ `seq` now (a truncation left for the writer thread that it could not take). */
  deleteThrough(seq: number): void {
    this.deleteStmt.run(seq);
  }

  /** Books a committed truncation into the in-memory gauges. */
  truncated(removed: { rows: number; bytes: number; seq?: number }): void {
    this.rowsCount -= removed.rows;
    this.bytesCount -= removed.bytes;
    if (removed.seq === undefined) return;
    if (removed.seq > this.goneTo) this.goneTo = removed.seq;
    let rows = removed.rows;
    let bytes = removed.bytes;
    while (this.segments.length > 0 && this.segments[0]!.last <= removed.seq) {
      const s = this.segments.shift()!;
      rows -= s.rows;
      bytes -= s.bytes;
    }
    const cut = this.segments[0];
    if (cut !== undefined && cut.first <= removed.seq) {
      cut.rows -= rows;
      cut.bytes -= bytes;
      cut.first = removed.seq + 1;
    }
  }

  /** Rows and bytes (payload + topic + client id) waiting in the journal. */
  stats(): { rows: number; bytes: number } {
    return { rows: this.rowsCount, bytes: this.bytesCount };
  }
}

function entrySize(e: JournalEntry): number {
  return e.payload.length + Buffer.byteLength(e.topic) + Buffer.byteLength(e.clientId);
}
