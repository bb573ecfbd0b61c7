import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { JournalEntry } from "./journal.js";
import { keepHeapSmall } from "../startup-memory.js";

export type WriterRequest =
  /**
   * A group as a few flat values (cloning one object per message costs more than the commit):
   * entry i's topic is `topics.slice(topicEnds[i - 1], topicEnds[i])` (UTF-16 units), its
   * client id likewise, its payload bytes `ends[i - 1] … ends[i]` of `payloads`.
   */
  | {
      type: "append";
      id: number;
      receivedMs: Float64Array;
      topics: string;
      topicEnds: Uint32Array;
      clients: string;
      clientEnds: Uint32Array;
      payloads: ArrayBuffer;
      ends: Uint32Array;
      /** A new max_page_count for the thread's connection (the outbox's page limit changed). */
      maxPageCount?: number;
      /** False: QoS 0 messages only, the commit need not fsync (synchronous = NORMAL). */
      durable: boolean;
    }
  /**
   * A checkpoint's bytes (`bytes` of `data`, shared with the main thread, which leaves them alone
   * until the reply) stored as blob `blobId` in table `checkpoint_blobs`, in a transaction of its
   * own with fsync; blobs other than `blobId` and `keep` (the one the committed checkpoint refers to)
   * are deleted in it. Replies "committed" with lastSeqs [0].
   */
  | { type: "blob"; id: number; blobId: number; keep: number; data: SharedArrayBuffer; bytes: number; maxPageCount?: number }
  /**
   * Delete the journal's rows with seq ≤ `seq` (a committed checkpoint covers them): once no
   * request came for a while, a slice per transaction, without fsync; no reply, the shared
   * `truncatedTo` says when it is done (a stop before then leaves rows the next start deletes).
   */
  | { type: "truncate"; seq: number }
  | { type: "close" };

export type WriterReply =
  | { type: "ready" }
  | { type: "failed"; message: string }
  /** The groups `ids` were committed (one transaction for all of them); `lastSeqs[i]` is the seq of the last row of group `ids[i]`. */
  | { type: "committed"; ids: number[]; lastSeqs: number[]; synced: boolean }
  | { type: "error"; ids: number[]; message: string; code: string | undefined }
  | { type: "closed" };

/** How a commit on the writer thread ended: the seq of its last row, or the error (with SQLite's code, e.g. SQLITE_FULL). */
export type WriterDone = (err: Error | null, lastSeq: number) => void;

/** A bound on a synchronous wait for the writer thread (a commit waits at most busy_timeout, 5 s, for the write lock). */
const SYNC_WAIT_MS = 30_000;

/**
 * The ingest journal's group commits on a writer thread (journal-worker.ts)
 * with its own connection to the same WAL database file: the main thread
 * hands a group over and goes on serving the broker while the group's fsync
 * runs; the completion comes back as a message. The thread commits every
 * group that queued up during its previous commit in ONE transaction (group
 * commit across hand-overs), in hand-over order, and reports them in that
 * order, so journal seqs follow hand-over order.
 *
 * Started lazily by the first group (an idle gateway pays no second V8
 * isolate); until the thread has opened the database `submit` returns false
 * and the caller commits on its own connection. A thread that fails is not
 * restarted: the caller keeps committing synchronously.
 */
export class JournalWriter {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  /** The seq the thread has deleted the journal through (see `truncate`), and the last one asked for. */
  private readonly truncatedTo = new BigInt64Array(new SharedArrayBuffer(8));
  private truncateAsked = 0;
  /** Bumped after each request posted to the thread, which blocks on it between requests. */
  private readonly requests = new Int32Array(new SharedArrayBuffer(4));
  /** Replies received (the thread bumps `signal` after posting each one). */
  private received = 0;
  private state: "idle" | "starting" | "ready" | "broken" | "closed" = "idle";
  private nextId = 1;
  private readonly pending = new Map<number, WriterDone>();
  /** Set when the thread died: why (logged once by the caller through onBroken). */
  onBroken: (err: Error) => void = () => {};

  /** Transactions the thread committed with an fsync (synchronous = FULL) and without (QoS 0 only). */
  readonly commits = { synced: 0, unsynced: 0 };

  /** The last page limit sent to the thread (it sets max_page_count only when this changes). */
  private sentPageLimit = -1;

  constructor(
    private readonly path: string,
    /** The outbox connection's WAL bounds (wal_autocheckpoint, journal_size_limit are per connection): the thread uses the same. */
    private readonly wal?: { walPages: number; walLimitBytes: number },
  ) {}

  /** Whether groups can be handed over now (starts the thread on first use). */
  available(): boolean {
    if (this.state === "idle") this.start();
    return this.state === "ready";
  }

  /** Whether the thread was ever started (available() starts it). */
  started(): boolean {
    return this.state !== "idle";
  }

  /** Commits on the writer thread; `done` runs on the main thread after the commit (or failure). Only when available(). */
  submit(entries: readonly JournalEntry[], done: WriterDone, pageLimit = -1, durable = true): void {
    const n = entries.length;
    const receivedMs = new Float64Array(n);
    const topicEnds = new Uint32Array(n);
    const clientEnds = new Uint32Array(n);
    const ends = new Uint32Array(n);
    let topics = "";
    let clients = "";
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      receivedMs[i] = e.receivedMs;
      topics += e.topic;
      topicEnds[i] = topics.length;
      clients += e.clientId;
      clientEnds[i] = clients.length;
      total += e.payload.length;
      ends[i] = total;
    }
    // Payloads are views into the socket's read buffers: cloning a view would copy its whole
    // buffer, so they are copied once, back to back, into a buffer of their own that is transferred.
    const packed = new Uint8Array(total);
    for (let i = 0, at = 0; i < n; i++) {
      const p = entries[i]!.payload;
      packed.set(p, at);
      at += p.length;
    }
    const id = this.nextId++;
    this.pending.set(id, done);
    const payloads = packed.buffer;
    // The disk-full design keeps the database below the file system's free space minus a margin
    // (max_page_count, recomputed by the outbox's StorageSpace): the thread's inserts obey it too.
    const maxPageCount = pageLimit > 0 && pageLimit !== this.sentPageLimit ? pageLimit : undefined;
    if (maxPageCount !== undefined) this.sentPageLimit = pageLimit;
    this.port!.postMessage({ type: "append", id, receivedMs, topics, topicEnds, clients, clientEnds, payloads, ends, maxPageCount, durable } satisfies WriterRequest, [
      payloads,
      ends.buffer,
      receivedMs.buffer,
      topicEnds.buffer,
      clientEnds.buffer,
    ]);
    this.wake();
  }

  /**
   * Stores a checkpoint's bytes as blob `blobId` (see WriterRequest "blob"): on the writer thread, so
   * neither the bytes' write nor its fsync runs on the event loop. `done` runs on the main thread.
   * Only when available(); the thread commits it after the groups handed over before it.
   */
  submitBlob(blobId: number, keep: number, bytes: Buffer, done: WriterDone, pageLimit = -1): void {
    if (!(bytes.buffer instanceof SharedArrayBuffer) || bytes.byteOffset !== 0) throw new Error("checkpoint blob: the bytes must start a SharedArrayBuffer");
    const id = this.nextId++;
    this.pending.set(id, done);
    const maxPageCount = pageLimit > 0 && pageLimit !== this.sentPageLimit ? pageLimit : undefined;
    if (maxPageCount !== undefined) this.sentPageLimit = pageLimit;
    this.port!.postMessage({ type: "blob", id, blobId, keep, data: bytes.buffer, bytes: bytes.length, maxPageCount } satisfies WriterRequest);
    this.wake();
  }

  /**
   * Hands the DELETE of a checkpoint's truncation (rows with seq ≤ `seq`) to the thread, which runs it
   * after its commits; false when the thread is not available (the caller deletes them itself).
   */
  truncate(seq: number): boolean {
    if (this.state !== "ready" || this.port === null) return false;
    this.truncateAsked = Math.max(this.truncateAsked, seq);
    this.port.postMessage({ type: "truncate", seq } satisfies WriterRequest);
    this.wake();
    return true;
  }

  /** Whether the thread has deleted every row a `truncate` asked for (true before any). */
  truncateDone(): boolean {
    return Number(Atomics.load(this.truncatedTo, 0)) >= this.truncateAsked;
  }

  /** Commits handed over and not yet reported. */
  inFlight(): number {
    return this.pending.size;
  }

  /** Whether the thread posted a reply the event loop has not received yet (one atomic load). */
  replyWaiting(): boolean {
    return this.port !== null && Atomics.load(this.signal, 0) > this.received;
  }

  /** Receives the replies waiting now, without waiting for the event loop (their completions run here). */
  receiveReplies(): void {
    for (let m = this.port && receiveMessageOnPort(this.port); m; m = this.port && receiveMessageOnPort(this.port)) this.onReply(m.message as WriterReply);
  }

  /**
   * Blocks until every handed-over group is reported and runs their
   * completions (shutdown, and before another connection writes a journal
   * row that must come after them).
   */
  waitIdle(): void {
    const deadline = Date.now() + SYNC_WAIT_MS;
    while (this.pending.size > 0 && this.port !== null) {
      const seen = Atomics.load(this.signal, 0);
      const m = receiveMessageOnPort(this.port);
      if (m) {
        this.onReply(m.message as WriterReply);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.fail(new Error(`journal writer thread did not answer within ${SYNC_WAIT_MS} ms`));
        return;
      }
      Atomics.wait(this.signal, 0, seen, left);
    }
  }

  /** Waits for what is in flight, closes the thread's connection and ends the thread. */
  close(): void {
    this.waitIdle();
    const port = this.port;
    const worker = this.worker;
    if (port !== null && worker !== null && this.state === "ready") {
      const deadline = Date.now() + SYNC_WAIT_MS;
      port.postMessage({ type: "close" } satisfies WriterRequest);
      this.wake();
      for (;;) {
        const seen = Atomics.load(this.signal, 0);
        const m = receiveMessageOnPort(port);
        if (m && (m.message as WriterReply).type === "closed") break;
        if (m) continue;
        const left = deadline - Date.now();
        if (left <= 0) break;
        Atomics.wait(this.signal, 0, seen, left);
      }
    }
    this.state = "closed";
    port?.close();
    void worker?.terminate();
    this.worker = null;
    this.port = null;
  }

  /** Wakes the thread for the request just posted. */
  private wake(): void {
    Atomics.add(this.requests, 0, 1);
    Atomics.notify(this.requests, 0, 1);
  }

  private start(): void {
    this.state = "starting";
    const { port1, port2 } = new MessageChannel();
    const options = { workerData: { path: this.path, port: port2, signal: this.signal, requests: this.requests, truncatedTo: this.truncatedTo, wal: this.wal }, transferList: [port2] };
    // The compiled build runs journal-worker.js. Tests and the bench run the TypeScript source under
    // tsx, whose loader a worker thread does not inherit: the thread registers it before importing.
    const worker = import.meta.url.endsWith(".ts")
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL("./journal-worker.ts", import.meta.url).href)}); });`,
          { ...options, eval: true },
        )
      : new Worker(new URL("./journal-worker.js", import.meta.url), options);
    worker.unref();
    port1.unref();
    port1.on("message", (m: WriterReply) => this.onReply(m));
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => {
      if (this.state !== "closed") this.fail(new Error(`journal writer thread exited (code ${code})`));
    });
    this.worker = worker;
    this.port = port1;
  }

  private onReply(m: WriterReply): void {
    this.received++;
    switch (m.type) {
      case "ready":
        if (this.state === "starting") this.state = "ready";
        // Starting a worker thread resets V8's runtime flags to the command line's (still after its
        // "online" event): set the gateway's again once the thread has opened the database.
        keepHeapSmall();
        return;
      case "failed":
        this.fail(new Error(`journal writer thread could not open ${this.path}: ${m.message}`));
        return;
      case "committed":
      case "error":
        if (m.type === "committed") this.commits[m.synced ? "synced" : "unsynced"]++;
        for (let i = 0; i < m.ids.length; i++) {
          const done = this.pending.get(m.ids[i]!);
          if (!done) continue;
          this.pending.delete(m.ids[i]!);
          if (m.type === "committed") done(null, m.lastSeqs[i]!);
          else done(Object.assign(new Error(m.message), { code: m.code }), 0);
        }
        return;
      case "closed":
        return;
    }
  }

  /** The thread is gone: what it had not reported fails (nothing of it is acknowledged), later groups commit on the caller's connection. */
  private fail(err: Error): void {
    if (this.state === "broken" || this.state === "closed") return;
    this.state = "broken";
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.port?.close();
    void this.worker?.terminate();
    this.worker = null;
    this.port = null;
    this.onBroken(err);
    for (const done of pending) done(err, 0);
  }
}
