import { statSync } from "node:fs";
import Database from "better-sqlite3";
import { SCHEMA_VERSION, bumpAdminGeneration } from "./schema.js";
import { readRunState } from "./run-marker.js";

/** Figures per group of queues; `target` is the group (AdminOptions.group). */
export interface QueueStatus {
  target: string;
  rows: number;
  samples: number;
  bytes: number;
  oldestMs: number;
  newestMs: number;
}
export interface DeadLetter {
  id: number;
  /** The group of its queue (AdminOptions.group). */
  target: string;
  /** The outbox queue it came from and is requeued to. */
  queue: string;
  batchId: number;
  createdMs: number;
  deadMs: number;
  samples: number;
  bytes: number;
  attempts: number;
  status: string;
  error: string;
}
export interface AdminOptions {
  /**
   * The group a queue belongs to: status figures are summed, and selections
   * by `target` made, per group. Queue names are opaque to the outbox; the
   * caller that names them says how they group. Default: each queue is its own.
   */
  group?: (queue: string) => string;
}
export interface OutboxStatus {
  path: string;
  fileBytes: number;
  walBytes: number;
  /** The marker of the process that has the file open now, or of one that died without closing it. */
  runState: ReturnType<typeof readRunState>;
  queues: QueueStatus[];
  deadLetters: { target: string; rows: number; samples: number; bytes: number }[];
}
export interface Selection {
  /** A group: all its queues (AdminOptions.group). */
  target?: string | undefined;
  /** A dead-letter id (as listed by `deadLetters`). */
  id?: number | undefined;
}

/**
 * `edgegate outbox`: inspect and repair an outbox file through its own SQLite
 * connection, with or without a gateway running on it. WAL lets it read while
 * the gateway writes; `busy_timeout` makes a write wait for the gateway's
 * commit instead of failing. Each change bumps `meta.admin_generation` in the
 * same transaction; a running gateway notices it within a second
 * (Outbox.maintain: `PRAGMA data_version`, then that one row) and reloads its
 * figures and wakes its senders.
 * It never touches the run marker, so it does not hide an unclean stop.
 */
export class OutboxAdmin {
  private constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly group: (queue: string) => string,
  ) {
    // Selections by group run in SQL through the caller's function.
    db.function("queue_group", { deterministic: true }, (queue: unknown) => group(String(queue)));
  }

  static open(path: string, opts: AdminOptions = {}): OutboxAdmin {
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true });
    } catch (err) {
      throw new Error(`cannot open outbox ${path} (storage.path): ${(err as Error).message}`);
    }
    db.pragma("busy_timeout = 5000");
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    if (row === undefined || Number(row.value) !== SCHEMA_VERSION) {
      db.close();
      throw new Error(`outbox ${path} has schema version ${row?.value ?? "none"}; this edgegate understands version ${SCHEMA_VERSION}`);
    }
    return new OutboxAdmin(db, path, opts.group ?? ((queue) => queue));
  }

  status(): OutboxStatus {
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    // Per queue in SQL, then per group.
    const perQueue = this.db
      .prepare("SELECT target, count(*) AS rows, sum(samples) AS samples, sum(bytes) AS bytes, min(created_ms) AS oldestMs, max(created_ms) AS newestMs FROM batches GROUP BY target")
      .all() as QueueStatus[];
    const queues = new Map<string, QueueStatus>();
    for (const q of perQueue) {
      const target = this.group(q.target);
      const t = queues.get(target);
      if (t === undefined) queues.set(target, { ...q, target });
      else {
        t.rows += q.rows;
        t.samples += q.samples;
        t.bytes += q.bytes;
        t.oldestMs = Math.min(t.oldestMs, q.oldestMs);
        t.newestMs = Math.max(t.newestMs, q.newestMs);
      }
    }
    const deadPerQueue = this.db
      .prepare("SELECT target, count(*) AS rows, sum(samples) AS samples, sum(bytes) AS bytes FROM dead_letters GROUP BY target")
      .all() as OutboxStatus["deadLetters"];
    const dead = new Map<string, OutboxStatus["deadLetters"][number]>();
    for (const d of deadPerQueue) {
      const target = this.group(d.target);
      const t = dead.get(target);
      if (t === undefined) dead.set(target, { ...d, target });
      else {
        t.rows += d.rows;
        t.samples += d.samples;
        t.bytes += d.bytes;
      }
    }
    const byTarget = <T extends { target: string }>(m: Map<string, T>): T[] => [...m.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
    return { path: this.path, fileBytes: size(this.path), walBytes: size(this.path + "-wal"), runState: readRunState(this.db), queues: byTarget(queues), deadLetters: byTarget(dead) };
  }

  deadLetters(sel: Selection & { limit?: number } = {}): DeadLetter[] {
    const { where, args } = filter(sel);
    const rows = this.db
      .prepare(
        `SELECT id, target AS queue, batch_id AS batchId, created_ms AS createdMs, dead_ms AS deadMs, samples, bytes, attempts, status, error FROM dead_letters ${where} ORDER BY id LIMIT ?`,
      )
      .all(...args, sel.limit ?? -1) as Omit<DeadLetter, "target">[];
    return rows.map((r) => ({ ...r, target: this.group(r.queue) }));
  }

  /**
   * Moves dead letters back into the queue they came from under their original
   * batch id, so each goes back to its place in the FIFO (ahead of anything
   * committed after it), not behind newer data of the same series.
   */
  requeue(sel: Selection = {}): { rows: number; samples: number } {
    const { where, args } = filter(sel);
    return this.db.transaction(() => {
      const moved = this.db
        .prepare(`INSERT INTO batches (id, target, created_ms, samples, bytes, attempts, payload) SELECT batch_id, target, created_ms, samples, bytes, 0, payload FROM dead_letters ${where} RETURNING samples`)
        .all(...args) as { samples: number }[];
      this.db.prepare(`DELETE FROM dead_letters ${where}`).run(...args);
      if (moved.length > 0) bumpAdminGeneration(this.db);
      return { rows: moved.length, samples: moved.reduce((n, r) => n + r.samples, 0) };
    }).immediate();
  }

  /** Deletes dead letters, or with `pending` a group's waiting batches (e.g. of a target removed from the config). */
  purge(sel: Selection & { pending?: boolean } = {}): { rows: number; samples: number } {
    const table = sel.pending ? "batches" : "dead_letters";
    const { where, args } = filter(sel);
    return this.db.transaction(() => {
      const gone = this.db.prepare(`DELETE FROM ${table} ${where} RETURNING samples`).all(...args) as { samples: number }[];
      if (gone.length > 0) bumpAdminGeneration(this.db);
      return { rows: gone.length, samples: gone.reduce((n, r) => n + r.samples, 0) };
    }).immediate();
  }

  close(): void {
    this.db.close();
  }
}

function filter(sel: Selection): { where: string; args: (string | number)[] } {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (sel.target !== undefined) {
    parts.push("queue_group(target) = ?");
    args.push(sel.target);
  }
  if (sel.id !== undefined) {
    parts.push("id = ?");
    args.push(sel.id);
  }
  return { where: parts.length > 0 ? `WHERE ${parts.join(" AND ")}` : "", args };
}
