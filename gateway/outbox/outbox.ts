import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrate, readAdminGeneration, readTotals, type Totals } from "./schema.js";
import { OutboxWriteError, sqliteCode } from "./errors.js";
import { Evictor, type Eviction } from "./eviction.js";
import { markRunning, markStopped, type StartInfo } from "./run-marker.js";
import { isFullError, releaseReserveFile, StorageSpace } from "./space.js";

export type { Eviction } from "./eviction.js";
export type { StartInfo } from "./run-marker.js";

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

export interface OutboxOptions {
  /** storage.max_bytes: bound on waiting + dead-letter payload bytes; 0 or absent = none. */
  maxBytes?: number;
  /** storage.max_age: rows committed longer ago are evicted; 0 or absent = none. */
  maxAgeMs?: number;
  /** Bytes other stores keep in this file under the same bound (the ingest journal): counted, never evicted here. */
  otherBytes?: () => number;
  /** Called after each committed eviction (to count it). */
  onEvict?: (e: Eviction) => void;
  /** Called when background maintenance fails (e.g. SQLITE_BUSY); it is retried on the next tick. */
  onError?: (err: Error) => void;
  /** Period of the age check and of noticing other connections' commits (`edgegate outbox requeue`). Default 1 s. */
  maintenanceIntervalMs?: number;
  /**
   * The group a queue belongs to, for the figures asked per group (`depth`,
   * `deadLetterDepth`, `queues`) and for `onEvict`. Queue names are opaque to
   * the outbox: the caller that names them says how they group (e.g. the
   * several queues of one Remote-Write target). Default: each queue is its own group.
   */
  group?: (queue: string) => string;
}

type BatchRow = { id: number; target: string; created_ms: number; samples: number; bytes: number; attempts: number; payload: Uint8Array };
type Removed = { target: string; samples: number; bytes: number };
type NewBatch = { payload: Uint8Array; samples: number };
/** Batches for one queue (an opaque name chosen by the caller). */
export type QueueBatches = { queue: string; batches: NewBatch[] };

/**
 * The store-and-forward buffer: one FIFO queue of already-encoded batches per
 * target (a row per target and batch, not one shared log with cursors: a
 * target is then just a key, its rows are deleted on its own ack, and a
 * removed target's rows are evicted like any other). A batch is deleted only
 * when the receiver acknowledged it (`ack`), it was moved to `dead_letters`,
 * or a storage bound evicted it (counted), so whatever `append` returned from
 * survives `kill -9` and power loss (WAL, synchronous=FULL; docs/delivery.md).
 *
 * Depth figures are kept in memory and reloaded when the `edgegate outbox`
 * CLI changed the queues from its own connection (schema.ts bumpAdminGeneration).
 */
export class Outbox {
  readonly startInfo: StartInfo;
  /** The file system's share-out and the disk-full backstop (null for ":memory:"). */
  readonly space: StorageSpace | null;
  private readonly db: Database.Database;
  private readonly opts: OutboxOptions;
  private readonly group: (queue: string) => string;
  private readonly evictor: Evictor;
  private readonly insertStmt: Database.Statement<[string, number, number, number, Uint8Array]>;
  private readonly oldestStmt: Database.Statement<[string], BatchRow>;
  private readonly oldestCreatedStmt: Database.Statement<[string], { created_ms: number }>;
  private readonly attemptStmt: Database.Statement<[number]>;
  private readonly deleteStmt: Database.Statement<[number], Removed>;
  private readonly deadInsertStmt: Database.Statement<[string, number, number, number, number, number, number, string, string, Uint8Array]>;
  private readonly appendTx: (parts: QueueBatches[], nowMs: number) => Map<string, Totals>;
  private readonly deadTx: (batch: OutboxBatch, status: string, error: string, nowMs: number) => Removed | undefined;
  private pending = new Map<string, Totals>();
  private dead = new Map<string, Totals>();
  /** Per target, the id its sender holds (read by `oldest`, not yet acked or dead-lettered). */
  private readonly leased = new Map<string, number>();
  /** Per queue, the rows `oldestRun` handed out (sent in one request), leased like `leased`. */
  private readonly leasedRuns = new Map<string, number[]>();
  private readonly runStmt: Database.Statement<[string, number], BatchRow>;
  private readonly runAfterStmt: Database.Statement<[string, number, number], BatchRow>;
  private readonly ackAttemptTx: (ack: readonly number[], attempt: readonly number[]) => Removed[];
  private readonly attemptsTx: (ids: readonly number[]) => void;
  private readonly ackTx: (ids: readonly number[]) => Removed[];
  private readonly listeners = new Set<(target: string) => void>();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Inside `atomically`: appended totals, booked only once the caller's transaction commits. */
  private deferred: Map<string, Totals> | null = null;
  private dataVersion: number;
  private adminGeneration: string;
  private closed = false;

  private constructor(db: Database.Database, opts: OutboxOptions, startInfo: StartInfo, space: StorageSpace | null) {
    this.db = db;
    this.opts = opts;
    this.space = space;
    this.group = opts.group ?? ((queue) => queue);
    this.startInfo = startInfo;
    this.evictor = new Evictor(db);
    this.insertStmt = db.prepare("INSERT INTO batches (target, created_ms, samples, bytes, payload) VALUES (?, ?, ?, ?, ?)");
    this.oldestStmt = db.prepare("SELECT id, target, created_ms, samples, bytes, attempts, payload FROM batches WHERE target = ? ORDER BY id LIMIT 1");
    // Without the payload: depth() runs on every gauge update and must not read a blob.
    this.oldestCreatedStmt = db.prepare("SELECT created_ms FROM batches WHERE target = ? ORDER BY id LIMIT 1");
    this.attemptStmt = db.prepare("UPDATE batches SET attempts = attempts + 1 WHERE id = ?");
    this.deleteStmt = db.prepare("DELETE FROM batches WHERE id = ? RETURNING target, samples, bytes");
    this.runStmt = db.prepare("SELECT id, target, created_ms, samples, bytes, attempts, payload FROM batches WHERE target = ? ORDER BY id LIMIT ?");
    this.runAfterStmt = db.prepare("SELECT id, target, created_ms, samples, bytes, attempts, payload FROM batches WHERE target = ? AND id > ? ORDER BY id LIMIT ?");
    this.attemptsTx = db.transaction((ids: readonly number[]) => {
      for (const id of ids) this.attemptStmt.run(id);
    });
    this.ackAttemptTx = db.transaction((ack: readonly number[], attempt: readonly number[]) => {
      const out: Removed[] = [];
      for (const id of ack) {
        const r = this.deleteStmt.get(id);
        if (r !== undefined) out.push(r);
      }
      for (const id of attempt) this.attemptStmt.run(id);
      return out;
    });
    this.ackTx = db.transaction((ids: readonly number[]) => {
      const out: Removed[] = [];
      for (const id of ids) {
        const r = this.deleteStmt.get(id);
        if (r !== undefined) out.push(r);
      }
      return out;
    });
    this.deadInsertStmt = db.prepare(
      "INSERT INTO dead_letters (target, batch_id, created_ms, dead_ms, samples, bytes, attempts, status, error, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.appendTx = db.transaction((parts: QueueBatches[], nowMs: number) => {
      const added = new Map<string, Totals>();
      for (const { queue, batches } of parts) {
        const t = added.get(queue) ?? { rows: 0, bytes: 0, samples: 0 };
        for (const b of batches) {
          this.insertStmt.run(queue, nowMs, b.samples, b.payload.byteLength, b.payload);
          t.rows++;
          t.bytes += b.payload.byteLength;
          t.samples += b.samples;
        }
        added.set(queue, t);
      }
      return added;
    });
    this.deadTx = db.transaction((batch: OutboxBatch, status: string, error: string, nowMs: number) => {
      const removed = this.deleteStmt.get(batch.id);
      // Already gone (acknowledged, moved or evicted before): nothing to move, never a duplicate.
      if (removed === undefined) return undefined;
      this.deadInsertStmt.run(batch.target, batch.id, batch.createdMs, nowMs, batch.samples, batch.bytes, batch.attempts, status, error, batch.payload);
      return removed;
    });
    this.loadTotals();
    this.dataVersion = this.readDataVersion();
    this.adminGeneration = readAdminGeneration(db);
    const every = opts.maintenanceIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.maintain(), every);
      this.timer.unref();
    }
  }

  /** Opens (creating the file and its folder if missing), checks the schema, and records an unclean previous run. */
  static open(path: string, opts: OutboxOptions = {}): Outbox {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    try {
      return Outbox.openFile(path, opts);
    } catch (err) {
      // A disk filled to the last byte by someone else: even the WAL index (-shm) cannot be made.
      // The reserve file is what is there to give back for it; then try once more.
      if (path === ":memory:" || !isFullError(err) || !releaseReserveFile(path)) throw err;
      return Outbox.openFile(path, opts);
    }
  }

  private static openFile(path: string, opts: OutboxOptions): Outbox {
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      // FULL: in WAL mode every commit fsyncs the WAL, so a commit that returned
      // survives a power cut. NORMAL would fsync only at checkpoints and may lose
      // the last commits (never corrupt). Commits are batched, ~1 per
      // storage.flush_interval, so the fsync costs little (docs/delivery.md).
      db.pragma("synchronous = FULL");
      // The CLI (or sqlite3) may hold the write lock briefly: wait instead of failing a commit.
      db.pragma("busy_timeout = 5000");
      // Before the first write: the WAL bound and the page limit that keep deletes possible on a full disk.
      const space = path === ":memory:" ? null : new StorageSpace(db, path);
      space?.govern();
      migrate(db, path);
      const info = markRunning(db);
      return new Outbox(db, opts, info, space);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Stores all batches in one transaction; returns after the commit, then
   * enforces storage.max_bytes and notifies `onAppend` listeners. On SQLITE_FULL
   * the oldest rows are evicted to make room and the commit is tried once more;
   * a commit that still fails throws OutboxWriteError (nothing was stored).
   */
  append(target: string, batches: NewBatch[], nowMs: number = Date.now()): void {
    this.appendQueues(target, [{ queue: target, batches }], nowMs);
  }

  /**
   * `append` for several queues at once (e.g. all queues of `target`, the
   * name OutboxWriteError reports) in one transaction, so a flush costs one
   * fsync whatever the number of queues.
   */
  appendQueues(target: string, parts: QueueBatches[], nowMs: number = Date.now()): void {
    const all = parts.filter((p) => p.batches.length > 0);
    if (all.length === 0) return;
    if (this.deferred !== null) {
      // Part of a caller's transaction (a savepoint here): no eviction to make room, the caller decides.
      let got: Map<string, Totals>;
      try {
        got = this.appendTx(all, nowMs);
      } catch (err) {
        let samples = 0;
        for (const p of all) for (const b of p.batches) samples += b.samples;
        throw new OutboxWriteError(sqliteCode(err), target, samples, err);
      }
      for (const [queue, t] of got) this.add(this.deferred, queue, t.rows, t.bytes, t.samples);
      return;
    }
    let added: Map<string, Totals>;
    try {
      added = this.appendTx(all, nowMs);
    } catch (err) {
      const code = sqliteCode(err);
      let retried: Map<string, Totals> | undefined;
      if (code === "SQLITE_FULL") {
        try {
          let need = 0;
          for (const p of all) for (const b of p.batches) need += b.payload.byteLength;
          this.applyEvictions(this.evictor.bySize(need, this.leasedIds()));
          retried = this.appendTx(all, nowMs);
        } catch {
          retried = undefined;
        }
      }
      if (retried === undefined) {
        let samples = 0;
        for (const p of all) for (const b of p.batches) samples += b.samples;
        throw new OutboxWriteError(code, target, samples, err);
      }
      added = retried;
    }
    for (const [queue, t] of added) this.add(this.pending, queue, t.rows, t.bytes, t.samples);
    this.enforceSize();
    for (const queue of added.keys()) this.notify(queue);
  }

  /**
   * Runs `fn` in one transaction on the outbox's connection, so appends made
   * by `fn` commit together with whatever else it writes (the ingest
   * journal's positions and checkpoint): all or nothing. Appends inside are
   * booked and announced to senders only after the commit; when `fn` throws,
   * nothing was stored and the error is rethrown.
   */
  atomically<T>(fn: () => T): T {
    const deferred = new Map<string, Totals>();
    this.deferred = deferred;
    let out: T;
    try {
      out = this.db.transaction(fn)();
    } finally {
      this.deferred = null;
    }
    for (const [queue, t] of deferred) this.add(this.pending, queue, t.rows, t.bytes, t.samples);
    if (deferred.size > 0) this.enforceSize();
    for (const queue of deferred.keys()) this.notify(queue);
    return out;
  }

  /** The connection, for the stores that share this file and its transactions (the ingest journal). */
  connection(): Database.Database {
    return this.db;
  }

  /** The oldest batch of queue `target` (FIFO), or undefined when it is empty. The row is leased (not evicted) until ack/deadLetter. */
  oldest(target: string): OutboxBatch | undefined {
    this.leasedRuns.delete(target);
    const r = this.oldestStmt.get(target);
    if (r === undefined) {
      this.leased.delete(target);
      return undefined;
    }
    this.leased.set(target, r.id);
    return { id: r.id, target: r.target, createdMs: r.created_ms, samples: r.samples, bytes: r.bytes, attempts: r.attempts, payload: r.payload };
  }

  recordAttempt(id: number): void {
    this.write("attempt", () => this.attemptStmt.run(id));
  }

  /**
   * The oldest rows of queue `target` that were never attempted, in order, as
   * many as fit in `maxSamples` (at most `maxRows`), for one request; the
   * first row is returned whatever its size or attempts. All are leased until
   * acknowledged (`ackAll`) or the next read of the queue.
   */
  oldestRun(target: string, maxSamples: number, maxRows: number): OutboxBatch[] {
    const out: OutboxBatch[] = [];
    let samples = 0;
    for (const r of this.runStmt.iterate(target, maxRows)) {
      if (out.length > 0 && (r.attempts > 0 || samples + r.samples > maxSamples)) break;
      samples += r.samples;
      out.push({ id: r.id, target: r.target, createdMs: r.created_ms, samples: r.samples, bytes: r.bytes, attempts: r.attempts, payload: r.payload });
    }
    if (out.length > 0) {
      this.leased.set(target, out[0]!.id);
      this.leasedRuns.set(target, out.map((b) => b.id));
    } else {
      this.leased.delete(target);
      this.leasedRuns.delete(target);
    }
    return out;
  }

  /**
   * The run that follows row `afterId` in queue `target` (rows never
   * attempted, as `oldestRun`, but the first one too must be unattempted), read
   * while the run before it is in flight. Its rows join that run's lease; empty
   * when fewer than two rows qualify.
   */
  nextRun(target: string, afterId: number, maxSamples: number, maxRows: number): OutboxBatch[] {
    const out: OutboxBatch[] = [];
    let samples = 0;
    for (const r of this.runAfterStmt.iterate(target, afterId, maxRows)) {
      if (r.attempts > 0 || (out.length > 0 && samples + r.samples > maxSamples)) break;
      samples += r.samples;
      out.push({ id: r.id, target: r.target, createdMs: r.created_ms, samples: r.samples, bytes: r.bytes, attempts: r.attempts, payload: r.payload });
    }
    if (out.length < 2) return [];
    this.leasedRuns.set(target, [...(this.leasedRuns.get(target) ?? []), ...out.map((b) => b.id)]);
    return out;
  }

  /**
   * `ackAll(ack)` and `recordAttempts(attempt)` in one transaction (one fsync):
   * a run was accepted and the next one is about to be sent. The next run
   * stays leased.
   */
  ackAndRecordAttempts(target: string, ack: readonly number[], attempt: readonly number[]): { rows: number; samples: number; bytes: number } {
    const sum = this.booked(this.ackAttemptTx(ack, attempt));
    if (attempt.length > 0) {
      this.leasedRuns.set(target, [...attempt]);
      this.leased.set(target, attempt[0]!);
    } else {
      this.leasedRuns.delete(target);
      this.leased.delete(target);
    }
    return sum;
  }

  /** Takes deleted rows off the pending figures; returns what they held. */
  private booked(removed: readonly { target: string; samples: number; bytes: number }[]): { rows: number; samples: number; bytes: number } {
    const sum = { rows: 0, samples: 0, bytes: 0 };
    for (const r of removed) {
      this.add(this.pending, r.target, -1, -r.bytes, -r.samples);
      sum.rows++;
      sum.samples += r.samples;
      sum.bytes += r.bytes;
    }
    return sum;
  }

  /** `recordAttempt` for the rows of one request, in one transaction (one fsync). */
  recordAttempts(ids: readonly number[]): void {
    this.attemptsTx(ids);
  }

  /** `ack` for the rows of one request, in one transaction; returns the samples and bytes removed. */
  ackAll(ids: readonly number[]): { rows: number; samples: number; bytes: number } {
    const removed = this.ackTx(ids);
    const sum = this.booked(removed);
    const target = removed[0]?.target;
    if (target !== undefined) {
      this.leasedRuns.delete(target);
      if (ids.includes(this.leased.get(target) ?? -1)) this.leased.delete(target);
    }
    return sum;
  }

  /** Deletes a batch the receiver acknowledged (2xx). Returns false for an unknown id. */
  ack(id: number): boolean {
    // all(), not get(): get() stops after the first row and resets the statement, and better-sqlite3
    // drops the error of that reset, which is where an autocommit statement commits. A commit that
    // failed (disk full) would look like a delete that succeeded, and the row would come back.
    const removed = this.write("delete", () => this.deleteStmt.all(id)[0]);
    if (removed === undefined) return false;
    if (this.leased.get(removed.target) === id) this.leased.delete(removed.target);
    this.add(this.pending, removed.target, -1, -removed.bytes, -removed.samples);
    return true;
  }

  /** Moves a batch that can never be delivered to `dead_letters`, in one transaction. */
  deadLetter(batch: OutboxBatch, status: string, error: string, nowMs: number = Date.now()): void {
    const removed = this.write("dead-letter", () => this.deadTx(batch, status, error, nowMs));
    if (this.leased.get(batch.target) === batch.id) this.leased.delete(batch.target);
    if (removed === undefined) return;
    this.add(this.pending, removed.target, -1, -removed.bytes, -removed.samples);
    this.add(this.dead, removed.target, 1, removed.bytes, removed.samples);
  }

  /**
   * Stores part of a batch (the samples a receiver refuses, isolated by
   * splitting) as a dead letter of its own; the batch itself stays until
   * `ack` (its other samples were delivered).
   */
  deadLetterPart(batch: OutboxBatch, payload: Uint8Array, samples: number, status: string, error: string, nowMs: number = Date.now()): void {
    this.write("dead-letter", () => this.deadInsertStmt.run(batch.target, batch.id, batch.createdMs, nowMs, samples, payload.byteLength, batch.attempts, status, error, payload));
    this.add(this.dead, batch.target, 1, payload.byteLength, samples);
  }

  /** Waiting batches of one group (all its queues: OutboxOptions.group), or of all queues. `oldestMs` is the creation time of the oldest. */
  depth(target?: string): { rows: number; bytes: number; samples: number; oldestMs: number | null } {
    const sum = { rows: 0, bytes: 0, samples: 0, oldestMs: null as number | null };
    for (const name of this.pending.keys()) {
      if (target !== undefined && this.group(name) !== target) continue;
      const d = this.queueDepth(name);
      sum.rows += d.rows;
      sum.bytes += d.bytes;
      sum.samples += d.samples;
      if (d.oldestMs !== null && (sum.oldestMs === null || d.oldestMs < sum.oldestMs)) sum.oldestMs = d.oldestMs;
    }
    return sum;
  }

  /** Waiting batches of one queue. */
  queueDepth(queue: string): { rows: number; bytes: number; samples: number; oldestMs: number | null } {
    const t = this.pending.get(queue);
    if (t === undefined || t.rows <= 0) return { rows: 0, bytes: 0, samples: 0, oldestMs: null };
    return { rows: t.rows, bytes: t.bytes, samples: t.samples, oldestMs: this.oldestCreatedStmt.get(queue)?.created_ms ?? null };
  }

  /** The queues of group `target` that hold waiting batches, oldest first. */
  queues(target: string): string[] {
    const found: { queue: string; oldestMs: number }[] = [];
    for (const [name, t] of this.pending) {
      if (this.group(name) !== target || t.rows <= 0) continue;
      found.push({ queue: name, oldestMs: this.queueDepth(name).oldestMs ?? 0 });
    }
    return found.sort((a, b) => a.oldestMs - b.oldestMs).map((q) => q.queue);
  }

  deadLetterDepth(target?: string): { rows: number; samples: number; bytes: number } {
    const sum = { rows: 0, samples: 0, bytes: 0 };
    for (const [name, d] of this.dead) {
      if (target !== undefined && this.group(name) !== target) continue;
      sum.rows += d.rows;
      sum.samples += d.samples;
      sum.bytes += d.bytes;
    }
    return sum;
  }

  /** `listener(queue)` runs after each append commit (the sender's wake-up), and for every queue when another connection changed the file. */
  onAppend(listener: (target: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Age eviction and noticing other connections' commits; runs on a timer, callable from tests. */
  maintain(nowMs: number = Date.now()): void {
    if (this.closed) return;
    try {
      const v = this.readDataVersion();
      if (v !== this.dataVersion) {
        this.dataVersion = v;
        const generation = readAdminGeneration(this.db);
        if (generation !== this.adminGeneration) {
          this.adminGeneration = generation;
          this.loadTotals();
          for (const target of this.pending.keys()) this.notify(target);
        }
      }
      const maxAge = this.opts.maxAgeMs ?? 0;
      if (maxAge > 0) this.applyEvictions(this.evictor.byAge(nowMs - maxAge, this.leasedIds()));
      this.enforceSize();
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /** Idempotent: marks the run as cleanly stopped, checkpoints the WAL, closes. Later calls to other methods throw. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.listeners.clear();
    try {
      markStopped(this.db);
    } catch (err) {
      // e.g. SQLITE_FULL: the next start will report an unclean stop, which is the safe side.
      this.opts.onError?.(err as Error);
    } finally {
      this.db.close();
    }
  }

  /**
   * A sender's write (attempt mark, delete, dead letter). When it fails for
   * lack of space, room is made (the reserve given back, the WAL
   * checkpointed so the retry writes over its bytes), the disk-full state is
   * reported, and the write is tried once more: delivering and deleting is
   * what frees space, so it must not stop when the disk is full.
   */
  private write<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (this.space === null || !isFullError(err)) throw err;
      this.space.full(err, what);
      return fn();
    }
  }

  private enforceSize(): void {
    const max = this.opts.maxBytes ?? 0;
    if (max <= 0) return;
    const total = this.depth().bytes + this.deadLetterDepth().bytes + (this.opts.otherBytes?.() ?? 0);
    if (total > max) this.applyEvictions(this.evictor.bySize(total - max, this.leasedIds()));
  }

  private applyEvictions(evictions: Eviction[]): void {
    for (const e of evictions) {
      this.add(e.table === "batches" ? this.pending : this.dead, e.target, -e.rows, -e.bytes, -e.samples);
      this.opts.onEvict?.({ ...e, target: this.group(e.target) }); // counted per group, not per queue
      if (e.table === "batches") this.notify(e.target); // the sender refreshes its depth gauges
    }
  }

  private notify(target: string): void {
    for (const listener of this.listeners) {
      try {
        listener(target);
      } catch (err) {
        // The batches are committed: a faulty listener must not make append look failed.
        process.emitWarning(`outbox onAppend listener threw: ${String(err)}`);
      }
    }
  }

  private loadTotals(): void {
    // Targets keep their entries (at zero) so listeners are told about emptied queues too.
    const pending = readTotals(this.db, "batches");
    for (const name of this.pending.keys()) if (!pending.has(name)) pending.set(name, { rows: 0, bytes: 0, samples: 0 });
    this.pending = pending;
    this.dead = readTotals(this.db, "dead_letters");
  }

  private readDataVersion(): number {
    return this.db.pragma("data_version", { simple: true }) as number;
  }

  private leasedIds(): Set<number> {
    const ids = new Set(this.leased.values());
    for (const run of this.leasedRuns.values()) for (const id of run) ids.add(id);
    return ids;
  }

  private add(map: Map<string, Totals>, target: string, rows: number, bytes: number, samples: number): void {
    const t = map.get(target) ?? { rows: 0, bytes: 0, samples: 0 };
    t.rows += rows;
    t.bytes += bytes;
    t.samples += samples;
    map.set(target, t);
  }
}
