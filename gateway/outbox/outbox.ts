import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./schema.js";

/** One stored Remote-Write request: snappy-compressed `prometheus.WriteRequest` bytes. */
export interface OutboxBatch {
  id: number;
  target: string;
  createdMs: number;
  samples: number;
  bytes: number;
  attempts: number;
  payload: Uint8Array;
}

interface Totals {
  rows: number;
  bytes: number;
  samples: number;
}
interface BatchRow {
  id: number;
  target: string;
  created_ms: number;
  samples: number;
  bytes: number;
  attempts: number;
  payload: Uint8Array;
}
interface Removed {
  target: string;
  samples: number;
  bytes: number;
}

/**
 * The store-and-forward buffer: a FIFO of already-encoded batches per target,
 * in one SQLite file. A batch is deleted only when the receiver acknowledged it
 * (`ack`) or it was moved to `dead_letters`, so whatever `append` returned from
 * survives `kill -9` and power loss.
 *
 * Depth figures are kept in memory (loaded at open, updated on every change), so
 * gauges and the status API cost nothing even with a large backlog. That holds
 * while this object is the only writer of the file: open one Outbox per file.
 */
export class Outbox {
  private readonly db: Database.Database;
  private readonly insertStmt: Database.Statement<[string, number, number, number, Uint8Array]>;
  private readonly oldestStmt: Database.Statement<[string], BatchRow>;
  private readonly oldestCreatedStmt: Database.Statement<[string], { created_ms: number }>;
  private readonly attemptStmt: Database.Statement<[number]>;
  private readonly deleteStmt: Database.Statement<[number], Removed>;
  private readonly deadInsertStmt: Database.Statement<[string, number, number, number, number, number, number, string, string, Uint8Array]>;
  private readonly appendTx: (target: string, batches: { payload: Uint8Array; samples: number }[], nowMs: number) => Totals;
  private readonly deadTx: (batch: OutboxBatch, status: string, error: string, nowMs: number) => Removed | undefined;
  private readonly pending = new Map<string, Totals>();
  private readonly dead = new Map<string, { rows: number; samples: number }>();
  private readonly listeners = new Set<(target: string) => void>();
  private closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
    this.insertStmt = db.prepare("INSERT INTO batches (target, created_ms, samples, bytes, payload) VALUES (?, ?, ?, ?, ?)");
    this.oldestStmt = db.prepare(
      "SELECT id, target, created_ms, samples, bytes, attempts, payload FROM batches WHERE target = ? ORDER BY id LIMIT 1",
    );
    // Without the payload: depth() runs on every gauge update and must not read a blob.
    this.oldestCreatedStmt = db.prepare("SELECT created_ms FROM batches WHERE target = ? ORDER BY id LIMIT 1");
    this.attemptStmt = db.prepare("UPDATE batches SET attempts = attempts + 1 WHERE id = ?");
    this.deleteStmt = db.prepare("DELETE FROM batches WHERE id = ? RETURNING target, samples, bytes");
    this.deadInsertStmt = db.prepare(
      "INSERT INTO dead_letters (target, batch_id, created_ms, dead_ms, samples, bytes, attempts, status, error, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );

    this.appendTx = db.transaction((target: string, batches: { payload: Uint8Array; samples: number }[], nowMs: number) => {
      let bytes = 0;
      let samples = 0;
      for (const b of batches) {
        this.insertStmt.run(target, nowMs, b.samples, b.payload.byteLength, b.payload);
        bytes += b.payload.byteLength;
        samples += b.samples;
      }
      return { rows: batches.length, bytes, samples };
    });
    this.deadTx = db.transaction((batch: OutboxBatch, status: string, error: string, nowMs: number) => {
      const removed = this.deleteStmt.get(batch.id);
      // Already gone (acknowledged or moved before): nothing to move, never a duplicate.
      if (removed === undefined) return undefined;
      this.deadInsertStmt.run(
        batch.target, batch.id, batch.createdMs, nowMs, batch.samples, batch.bytes, batch.attempts, status, error, batch.payload,
      );
      return removed;
    });

    type Sum = { target: string; rows: number; bytes: number | null; samples: number | null };
    for (const r of db.prepare("SELECT target, count(*) AS rows, sum(bytes) AS bytes, sum(samples) AS samples FROM batches GROUP BY target").all() as Sum[]) {
      this.pending.set(r.target, { rows: r.rows, bytes: r.bytes ?? 0, samples: r.samples ?? 0 });
    }
    for (const r of db.prepare("SELECT target, count(*) AS rows, sum(samples) AS samples FROM dead_letters GROUP BY target").all() as Sum[]) {
      this.dead.set(r.target, { rows: r.rows, samples: r.samples ?? 0 });
    }
  }

  /** Opens (creating the file and its folder if missing) and checks the schema version. */
  static open(path: string): Outbox {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      // FULL: a commit that returned is on disk even after a power cut (NORMAL in WAL
      // mode may lose the last commits). Commits are batched, ~1 per flush_interval,
      // so the extra fsync per commit costs little.
      db.pragma("synchronous = FULL");
      // Readers (e.g. the sqlite3 CLI inspecting the file) must not make a commit fail at once.
      db.pragma("busy_timeout = 5000");
      migrate(db, path);
      return new Outbox(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Stores all batches in one transaction; returns after the commit, then notifies `onAppend` listeners. */
  append(target: string, batches: { payload: Uint8Array; samples: number }[], nowMs: number = Date.now()): void {
    if (batches.length === 0) return;
    const added = this.appendTx(target, batches, nowMs);
    // Counted after the commit: a failed commit leaves the figures as they were.
    this.add(target, added.rows, added.bytes, added.samples);
    for (const listener of this.listeners) {
      try {
        listener(target);
      } catch (err) {
        // The batches are committed: a faulty listener must not make append look failed.
        process.emitWarning(`outbox onAppend listener threw: ${String(err)}`);
      }
    }
  }

  /** The oldest batch of `target` (FIFO), or undefined when its queue is empty. */
  oldest(target: string): OutboxBatch | undefined {
    const r = this.oldestStmt.get(target);
    if (r === undefined) return undefined;
    return { id: r.id, target: r.target, createdMs: r.created_ms, samples: r.samples, bytes: r.bytes, attempts: r.attempts, payload: r.payload };
  }

  recordAttempt(id: number): void {
    this.attemptStmt.run(id);
  }

  /** Deletes a batch the receiver acknowledged (2xx). Unknown ids are ignored. */
  ack(id: number): void {
    const removed = this.deleteStmt.get(id);
    if (removed !== undefined) this.add(removed.target, -1, -removed.bytes, -removed.samples);
  }

  /** Moves a batch that can never be delivered to `dead_letters`, in one transaction. */
  deadLetter(batch: OutboxBatch, status: string, error: string, nowMs: number = Date.now()): void {
    const removed = this.deadTx(batch, status, error, nowMs);
    if (removed === undefined) return;
    this.add(removed.target, -1, -removed.bytes, -removed.samples);
    const d = this.dead.get(removed.target) ?? { rows: 0, samples: 0 };
    d.rows += 1;
    d.samples += removed.samples;
    this.dead.set(removed.target, d);
  }

  /** Waiting batches of one target, or of all targets. `oldestMs` is the creation time of the oldest. */
  depth(target?: string): { rows: number; bytes: number; samples: number; oldestMs: number | null } {
    if (target !== undefined) {
      const t = this.pending.get(target);
      if (t === undefined || t.rows === 0) return { rows: 0, bytes: 0, samples: 0, oldestMs: null };
      return { rows: t.rows, bytes: t.bytes, samples: t.samples, oldestMs: this.oldestCreatedStmt.get(target)?.created_ms ?? null };
    }
    let rows = 0;
    let bytes = 0;
    let samples = 0;
    let oldestMs: number | null = null;
    for (const name of this.pending.keys()) {
      const d = this.depth(name);
      rows += d.rows;
      bytes += d.bytes;
      samples += d.samples;
      if (d.oldestMs !== null && (oldestMs === null || d.oldestMs < oldestMs)) oldestMs = d.oldestMs;
    }
    return { rows, bytes, samples, oldestMs };
  }

  deadLetterDepth(target?: string): { rows: number; samples: number } {
    if (target !== undefined) {
      const d = this.dead.get(target);
      return { rows: d?.rows ?? 0, samples: d?.samples ?? 0 };
    }
    let rows = 0;
    let samples = 0;
    for (const d of this.dead.values()) {
      rows += d.rows;
      samples += d.samples;
    }
    return { rows, samples };
  }

  /** `listener(target)` runs after each append commit (the sender's wake-up). Returns an unsubscribe function. */
  onAppend(listener: (target: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Idempotent. Later calls to other methods throw. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  private add(target: string, rows: number, bytes: number, samples: number): void {
    const t = this.pending.get(target) ?? { rows: 0, bytes: 0, samples: 0 };
    t.rows += rows;
    t.bytes += bytes;
    t.samples += samples;
    this.pending.set(target, t);
  }
}
