import Database from "better-sqlite3";

/**
 * Checkpoints of the aggregation state (open windows, cross-window output
 * state, flushed-window watermarks, stale tracking) in the outbox's SQLite
 * file, in a table of its own, through its own connection (the outbox class
 * stays the only user of its tables).
 *
 * Why the same file: one file to back up, move or delete, and one fsync
 * domain. WAL mode lets the two connections of this single-threaded process
 * take turns without blocking each other's readers.
 *
 * Consistency with the outbox (the gateway's tick does, in this order):
 *   1. flush due windows (they leave the in-memory state, watermarks advance),
 *   2. commit their outputs to the outbox,
 *   3. write a checkpoint (always after a tick that flushed a window, else
 *      every `storage.checkpoint_interval`).
 * A checkpoint therefore never holds a window whose outputs are not yet
 * committed... and after a crash between 2 and 3 the previous checkpoint
 * still holds the windows flushed in 2: they would be emitted again. That
 * gap is two synchronous SQLite commits long (no I/O wait or event loop turn
 * in between); a duplicate from it has the same timestamp, which Prometheus
 * accepts silently when the value is the same and rejects (dead letter)
 * otherwise. Exactly-once would need both writes in one transaction.
 */
export class CheckpointStore {
  private readonly db: Database.Database;
  private readonly putStmt: Database.Statement<[string, number, string]>;
  private readonly getStmt: Database.Statement<[string], { saved_ms: number; data: string }>;
  private closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
    this.putStmt = db.prepare(
      "INSERT INTO checkpoints (name, saved_ms, data) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET saved_ms = excluded.saved_ms, data = excluded.data",
    );
    this.getStmt = db.prepare("SELECT saved_ms, data FROM checkpoints WHERE name = ?");
  }

  /** Opens `path` (the outbox file, which must exist: open the outbox first) and creates the table if missing. */
  static open(path: string): CheckpointStore {
    const db = new Database(path, { fileMustExist: path !== ":memory:" });
    try {
      db.pragma("journal_mode = WAL");
      // FULL as the outbox: a checkpoint that returned survives a power cut.
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      db.exec("CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, saved_ms INTEGER NOT NULL, data TEXT NOT NULL)");
      return new CheckpointStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Replaces the checkpoint `name` (one row, one transaction). Returns the bytes written. */
  save(name: string, data: string, nowMs: number): number {
    this.putStmt.run(name, nowMs, data);
    return Buffer.byteLength(data);
  }

  load(name: string): { savedMs: number; data: string } | undefined {
    const row = this.getStmt.get(name);
    return row === undefined ? undefined : { savedMs: row.saved_ms, data: row.data };
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
