/**
 * The ingest journal's writer thread (started by journal-writer.ts): its own
 * better-sqlite3 connection to the gateway's WAL database, committing one
 * transaction for all the groups the main thread handed over while the
 * previous one committed, so the fsync of a group commit does not block the
 * event loop that runs the broker, and the main thread never waits to hand
 * the next group over. Replies
 * go to the MessagePort handed over in workerData, and every reply bumps a
 * shared counter so the main thread can also wait for one synchronously.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import Database from "better-sqlite3";
import { crashPoint } from "../crash-hook.js";
import { CHECKPOINT_BLOB_GC_SQL, CHECKPOINT_BLOB_INSERT_SQL, JOURNAL_INSERT_SQL, JOURNAL_TRUNCATE_SLICE_SQL, KIND_MESSAGE } from "./journal.js";
import type { WriterReply, WriterRequest } from "./journal-writer.js";

const { path, port, signal, requests, truncatedTo, wal } = workerData as {
  path: string;
  port: MessagePort;
  signal: Int32Array;
  /** Bumped by the main thread after each request it posts (see the loop at the end). */
  requests: Int32Array;
  /** The seq the thread has deleted the journal through (stored when a truncation is done). */
  truncatedTo: BigInt64Array;
  wal?: { walPages: number; walLimitBytes: number };
};

function reply(r: WriterReply): void {
  port.postMessage(r);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

let db: Database.Database;
/** The connection's synchronous setting: FULL unless the last transaction held QoS 0 messages only. */
let synchronousFull = true;
type Append = Extract<WriterRequest, { type: "append" }>;
type Blob = Extract<WriterRequest, { type: "blob" }>;
let append: (reqs: Append[]) => number[];
let storeBlob: (req: Blob) => void;
let truncateSlice: Database.Statement<[number, number]>;
/**
 * Rows a slice of a truncation deletes at most: 256 rows of ~450 bytes took 0.23-0.31 ms, 1,024
 * took ~1 ms (and one DELETE of 9,000 rows 24 ms); a group handed over meanwhile waits for the slice.
 */
const TRUNCATE_SLICE_ROWS = 256;
/**
 * Quiet time before a slice runs: longer than the gaps inside a stream (8 closed-loop devices leave
 * the thread idle ~3 ms of every ~5 ms window), so slices run between bursts, not between a
 * stream's group commits.
 */
const TRUNCATE_IDLE_MS = 20;
/** Rows per multi-row INSERT statement (see append). */
const INSERT_WIDE = 16;
/** The highest seq the main thread asked to delete up to, and whether rows up to it may still be there. */
let truncateTo = 0;
let truncatePending = false;
try {
  db = new Database(path, { fileMustExist: true });
  // The same settings as the outbox connection: FULL makes a WAL commit fsync before it returns
  // (survives a power cut); busy_timeout waits out the main thread's outbox/checkpoint transaction.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  if (wal) {
    // The outbox connection's WAL bounds (per connection): on a small disk the WAL must stay small and reused.
    db.pragma(`wal_autocheckpoint = ${wal.walPages}`);
    db.pragma(`journal_size_limit = ${wal.walLimitBytes}`);
  }
  const insert = db.prepare<[number, number, string, string, Buffer]>(JOURNAL_INSERT_SQL);
  // Rows go in statements of INSERT_WIDE rows where they fill one (AUTOINCREMENT reads and writes
  // sqlite_sequence once per statement, and each run is a call into SQLite): 152 rows took
  // 0.30-0.40 ms instead of 0.42-0.51 ms, time every acknowledgement waits for.
  const insertWide = db.prepare<unknown[]>(JOURNAL_INSERT_SQL.replace(/VALUES .*$/, `VALUES ${Array(INSERT_WIDE).fill("(?, ?, ?, ?, ?)").join(", ")}`));
  const wide: unknown[] = [];
  const putBlob = db.prepare<[number, Buffer]>(CHECKPOINT_BLOB_INSERT_SQL);
  const dropBlobs = db.prepare<[number, number]>(CHECKPOINT_BLOB_GC_SQL);
  truncateSlice = db.prepare<[number, number]>(JOURNAL_TRUNCATE_SLICE_SQL);
  storeBlob = db.transaction((req: Blob) => {
    dropBlobs.run(req.blobId, req.keep);
    putBlob.run(req.blobId, Buffer.from(req.data, 0, req.bytes));
    crashPoint("mid_checkpoint_blob");
  });
  append = db.transaction((reqs: Append[]) => {
    const lastSeqs: number[] = [];
    let seq = 0;
    for (const req of reqs) {
      const n = req.receivedMs.length;
      const payloads = Buffer.from(req.payloads);
      const { topics, topicEnds, clients, clientEnds, ends } = req;
      let i = 0;
      let at = 0;
      let t = 0;
      let c = 0;
      for (; i + INSERT_WIDE <= n; ) {
        wide.length = 0;
        for (const end = i + INSERT_WIDE; i < end; i++) {
          wide.push(req.receivedMs[i]!, KIND_MESSAGE, topics.slice(t, (t = topicEnds[i]!)), clients.slice(c, (c = clientEnds[i]!)), payloads.subarray(at, (at = ends[i]!)));
        }
        seq = Number(insertWide.run(wide).lastInsertRowid);
      }
      for (; i < n; i++) {
        const topic = topics.slice(t, (t = topicEnds[i]!));
        const client = clients.slice(c, (c = clientEnds[i]!));
        seq = Number(insert.run(req.receivedMs[i]!, KIND_MESSAGE, topic, client, payloads.subarray(at, (at = ends[i]!))).lastInsertRowid);
      }
      lastSeqs.push(seq);
    }
    crashPoint("mid_group_commit");
    return lastSeqs;
  });
  reply({ type: "ready" });
} catch (err) {
  reply({ type: "failed", message: (err as Error).message });
  port.close();
  throw err;
}

function close(): void {
  db.close();
  reply({ type: "closed" });
  port.close();
}

/** A checkpoint blob: its own transaction, always with fsync (the main thread's commit that refers to it follows its reply). */
function blob(req: Blob): void {
  try {
    if (req.maxPageCount !== undefined) db.pragma(`max_page_count = ${req.maxPageCount}`);
    if (!synchronousFull) {
      db.pragma("synchronous = FULL");
      synchronousFull = true;
    }
    storeBlob(req);
    reply({ type: "committed", ids: [req.id], lastSeqs: [0], synced: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    reply({ type: "error", ids: [req.id], message: (err as Error).message, code: typeof code === "string" ? code : undefined });
  }
}

function wantTruncate(seq: number): void {
  if (seq <= truncateTo) return;
  truncateTo = seq;
  truncatePending = true;
}

/**
 * One slice of the truncation the main thread handed over, in a transaction of its own without
 * fsync (a delete need not survive a power cut: rows behind the committed checkpoint are deleted at
 * the next start). Runs only once no request came for TRUNCATE_IDLE_MS, so a stream's group commits
 * do not wait for slices; if the stream leaves no such gap before the next checkpoint, that
 * checkpoint deletes the rows in its own transaction (the main thread reads `truncatedTo`).
 */
function truncateSome(): void {
  try {
    if (synchronousFull) {
      db.pragma("synchronous = NORMAL");
      synchronousFull = false;
    }
    const n = truncateSlice.run(truncateTo, TRUNCATE_SLICE_ROWS).changes;
    if (n < TRUNCATE_SLICE_ROWS) {
      truncatePending = false;
      Atomics.store(truncatedTo, 0, BigInt(truncateTo));
    }
  } catch {
    // E.g. the write lock not had within busy_timeout: not done, so the next checkpoint deletes
    // these rows in its own transaction, as does the next start.
    truncatePending = false;
  }
}

/** Handles a request and whatever else is queued behind it; false once the thread is closed. */
function handle(first: WriterRequest): boolean {
  if (first.type === "close") {
    close();
    return false;
  }
  if (first.type === "truncate") {
    wantTruncate(first.seq);
    return true;
  }
  if (first.type === "blob") {
    blob(first);
    return true;
  }
  // Everything handed over while the previous transaction ran: one transaction, one fsync.
  const reqs: Append[] = [first];
  let closing = false;
  let after: Blob | null = null;
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const req = m.message as WriterRequest;
    if (req.type === "close") {
      closing = true;
      break;
    }
    if (req.type === "truncate") {
      wantTruncate(req.seq);
      continue;
    }
    if (req.type === "blob") {
      // Replies keep hand-over order: the groups before it, then it (nothing is read past it).
      after = req;
      break;
    }
    reqs.push(req);
  }
  const ids = reqs.map((r) => r.id);
  let durable = false;
  for (const r of reqs) if (r.durable) durable = true;
  try {
    let limit: number | undefined;
    for (const r of reqs) if (r.maxPageCount !== undefined) limit = r.maxPageCount;
    if (limit !== undefined) db.pragma(`max_page_count = ${limit}`);
    // A transaction of QoS 0 messages only commits without fsync: MQTT delivers them at most once
    // and no PUBACK waits on them. In WAL mode a NORMAL commit survives a crash of the process (the
    // frames are in the OS's page cache); a power cut can lose the last such commits, never corrupt
    // the database, and the next FULL commit fsyncs the WAL with every frame before it.
    if (durable !== synchronousFull) {
      db.pragma(durable ? "synchronous = FULL" : "synchronous = NORMAL");
      synchronousFull = durable;
    }
    reply({ type: "committed", ids, lastSeqs: append(reqs), synced: durable });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    reply({ type: "error", ids, message: (err as Error).message, code: typeof code === "string" ? code : undefined });
  }
  if (after !== null) blob(after);
  if (closing) close();
  return !closing;
}

// The thread does nothing but commit, so it blocks on the request counter (a futex wake when the
// main thread bumps it) instead of idling in its event loop until the MessagePort's notification
// is dispatched: a hand-over reaches the thread sooner, and every PUBACK waits for a hand-over.
// A truncation runs a slice at a time while no request comes (see truncateSome).
for (;;) {
  const seen = Atomics.load(requests, 0);
  const m = receiveMessageOnPort(port);
  if (m === undefined) {
    if (!truncatePending) Atomics.wait(requests, 0, seen, 60_000);
    else if (Atomics.wait(requests, 0, seen, TRUNCATE_IDLE_MS) === "timed-out") truncateSome();
    continue;
  }
  if (!handle(m.message as WriterRequest)) break;
}
