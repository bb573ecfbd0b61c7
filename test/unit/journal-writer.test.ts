import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import Database from "better-sqlite3";
import { Journal, type JournalEntry } from "../../gateway/outbox/journal.js";
import { JournalWriter } from "../../gateway/outbox/journal-writer.js";
import { GroupCommitter } from "../../gateway/ingest/durable-ack.js";

/** A WAL database file with the journal's tables (as the outbox opens it), its journal, and a writer thread on the same file. */
async function setup(t: TestContext): Promise<{ db: Database.Database; journal: Journal; writer: JournalWriter }> {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-jwriter-"));
  const path = join(dir, "outbox.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  const journal = new Journal(db);
  const writer = new JournalWriter(path);
  t.after(() => {
    writer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // The thread starts on first use; bounded wait for it to open the file.
  for (let i = 0; i < 300 && !writer.available(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(writer.available(), "the writer thread opened the database");
  return { db, journal, writer };
}

type CommitterRest = Omit<ConstructorParameters<typeof GroupCommitter>[0], "commit" | "commitAsync" | "waitIdle">;

/** A group committer as the gateway wires it: groups to the writer thread (booked in the journal when reported), the main connection when the thread is not available. */
function threadCommitter(journal: Journal, writer: JournalWriter, rest: CommitterRest): GroupCommitter {
  return new GroupCommitter({
    commit: (es) => journal.append(es),
    commitAsync: (es, done) => {
      if (!writer.available()) return false;
      writer.submit(es, (err, last) => {
        if (err === null) journal.appended(es, last);
        done(err, last);
      });
      return true;
    },
    waitIdle: () => writer.waitIdle(),
    ...rest,
  });
}

function entries(prefix: string, n: number, t0 = 1000): JournalEntry[] {
  return Array.from({ length: n }, (_, i) => ({ receivedMs: t0 + i, topic: `${prefix}/${i}`, clientId: `dev-${prefix}`, payload: Buffer.from(`{"i":${i}}`) }));
}

test("groups handed to the writer thread commit in hand-over order on its own connection; the main connection reads them", async (t) => {
  const { journal, writer } = await setup(t);
  const reported: number[] = [];
  const all = await Promise.all(
    [0, 1, 2, 3, 4].map(
      (g) =>
        new Promise<number>((resolve, reject) =>
          writer.submit(entries(`g${g}`, 10), (err, lastSeq) => {
            if (err) return reject(err);
            reported.push(lastSeq);
            resolve(lastSeq);
          }),
        ),
    ),
  );
  assert.deepEqual(all, [10, 20, 30, 40, 50]);
  assert.deepEqual(reported, [10, 20, 30, 40, 50], "completions run in commit order");
  const rows = [...journal.after(0)];
  assert.equal(rows.length, 50);
  assert.deepEqual(
    rows.slice(0, 3).map((r) => [r.seq, r.topic, r.clientId, r.payload.toString()]),
    [
      [1, "g0/0", "dev-g0", '{"i":0}'],
      [2, "g0/1", "dev-g0", '{"i":1}'],
      [3, "g0/2", "dev-g0", '{"i":2}'],
    ],
  );
  assert.equal(rows[49]!.topic, "g4/9");
  // A row the main connection writes afterwards (e.g. the "resumed" marker) comes after them.
  assert.equal(journal.append(entries("main", 1)), 51);
});

test("waitIdle blocks until what was handed over is reported, and runs the completions on the calling thread", async (t) => {
  const { writer } = await setup(t);
  let seq = 0;
  writer.submit(entries("a", 5), (err, lastSeq) => {
    assert.equal(err, null);
    seq = lastSeq;
  });
  assert.equal(writer.inFlight(), 1);
  writer.waitIdle();
  assert.equal(seq, 5, "reported before waitIdle returned");
  assert.equal(writer.inFlight(), 0);
});

test("a commit that fails on the thread reports SQLite's code and stores nothing of the group", async (t) => {
  const { db, journal, writer } = await setup(t);
  db.exec("CREATE TRIGGER poison BEFORE INSERT ON journal WHEN NEW.topic = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END");
  const group = [...entries("ok", 3), { receivedMs: 1, topic: "poison", clientId: "x", payload: Buffer.from("{}") }];
  const err = await new Promise<Error | null>((resolve) => writer.submit(group, (e) => resolve(e)));
  assert.ok(err instanceof Error);
  assert.match(err.message, /poisoned row/);
  assert.match((err as Error & { code?: string }).code ?? "", /^SQLITE_CONSTRAINT/);
  assert.equal([...journal.after(0)].length, 0, "the group is one transaction: none of it stored");
});

test("group commit with the writer thread: a group is handed over at the end of its turn; flush() waits for the groups in flight, then commits the rest in order", async (t) => {
  const { journal, writer } = await setup(t);
  const committed: { topics: string[]; last: number }[] = [];
  const c = threadCommitter(journal, writer, {
    committed: (es, last) => committed.push({ topics: es.map((e) => e.topic), last }),
    failed: () => null,
  });
  const resolvedAfterCommit: boolean[] = [];
  // Acknowledged only once its row is committed: the main connection reads it.
  const isCommitted = (topic: string) => [...journal.after(0)].some((r) => r.topic === topic);
  const accept = (e: JournalEntry) => c.accept(e, 1).then(() => resolvedAfterCommit.push(isCommitted(e.topic)));
  const first = entries("first", 10).map(accept);
  await new Promise((r) => setImmediate(r)); // end of the turn: the first group is handed to the thread
  assert.equal(writer.inFlight(), 1, "the first group is on the writer thread");
  assert.equal(c.oldestUnprocessedMs(), 1000, "the group in flight holds the oldest arrival: the pipeline clock must not pass it");
  const second = entries("second", 7, 5000).map(accept);
  assert.equal(c.pending(), 7, "accepted while a group is in flight: they form the next group");
  assert.equal(c.oldestUnprocessedMs(), 1000);
  c.flush();
  assert.equal(c.oldestUnprocessedMs(), Infinity, "everything processed");
  assert.deepEqual(
    committed.map((g) => [g.topics.length, g.last, g.topics[0]]),
    [
      [10, 10, "first/0"],
      [7, 17, "second/0"],
    ],
    "processed in journal order, each group after its commit",
  );
  await Promise.all([...first, ...second]);
  assert.equal(resolvedAfterCommit.length, 17);
  assert.ok(resolvedAfterCommit.every(Boolean), "no acknowledgement before the commit holding the message");
  assert.deepEqual(journal.stats().rows, 17);
});

test("group commit with the writer thread: groups of consecutive turns are processed in journal order, each acknowledged only after its commit", async (t) => {
  const { journal, writer } = await setup(t);
  const committed: { first: string; n: number; last: number }[] = [];
  const c = threadCommitter(journal, writer, {
    committed: (es, last) => committed.push({ first: es[0]!.topic, n: es.length, last }),
    failed: () => null,
  });
  const acks: Promise<void>[] = [];
  for (let turn = 0; turn < 20; turn++) {
    for (const e of entries(`t${turn}`, 5, 1000 * turn)) acks.push(c.accept(e, 1).then(() => assert.ok(journal.lastSeq() >= 5 * (turn + 1), "acknowledged after its group's commit")));
    await new Promise((r) => setImmediate(r)); // each turn's group is handed over, whatever is still in flight
  }
  await Promise.all(acks);
  c.processCommitted();
  assert.equal(committed.length, 20, "one group per turn");
  committed.forEach((g, i) => {
    assert.equal(g.first, `t${i}/0`, "processed in hand-over order");
    assert.equal(g.last, 5 * (i + 1), "seqs follow hand-over order");
  });
  assert.equal(c.oldestUnprocessedMs(), Infinity);
  assert.deepEqual(
    [...journal.after(0)].map((r) => r.topic).slice(0, 7),
    ["t0/0", "t0/1", "t0/2", "t0/3", "t0/4", "t1/0", "t1/1"],
  );
});

test("a group the writer thread reports is acknowledged first and processed after the next hand-over (or processDelayMs); the clock bound and processCommitted cover it", async (t) => {
  const { journal, writer } = await setup(t);
  const events: string[] = [];
  const c = threadCommitter(journal, writer, {
    reported: (es, last) => events.push(`reported ${es[0]!.topic} ${last}`),
    committed: (es, last) => events.push(`processed ${es[0]!.topic} ${last}`),
    failed: () => null,
    processDelayMs: 60_000, // this test hands the next group over itself
  });
  const a = entries("a", 3, 1000).map((e) => c.accept(e, 1).then(() => events.push(`ack ${e.topic}`)));
  await Promise.all(a);
  assert.deepEqual(events, ["reported a/0 3", "ack a/0", "ack a/1", "ack a/2"], "acknowledged once durable, not processed yet");
  assert.equal(c.oldestUnprocessedMs(), 1000, "a group acknowledged and not processed still bounds the pipeline clock");
  // The next group is handed over: the waiting group is processed while the thread commits it.
  const b = entries("b", 2, 2000).map((e) => c.accept(e, 1));
  await new Promise((r) => setImmediate(r));
  assert.equal(writer.inFlight(), 1);
  assert.deepEqual(events.slice(4), ["processed a/0 3"], "processed right after the next hand-over");
  assert.equal(c.oldestUnprocessedMs(), 2000);
  await Promise.all(b);
  assert.equal(c.oldestUnprocessedMs(), 2000);
  c.processCommitted();
  assert.deepEqual(events.slice(5), ["reported b/0 5", "processed b/0 5"]);
  assert.equal(c.oldestUnprocessedMs(), Infinity);

  // With no next group, processDelayMs later.
  const events2: string[] = [];
  const d = new GroupCommitter({
    commit: (es) => journal.append(es),
    commitAsync: (es, done) => {
      writer.submit(es, (err, last) => done(err, last));
      return true;
    },
    waitIdle: () => writer.waitIdle(),
    committed: (es) => events2.push(`processed ${es[0]!.topic}`),
    failed: () => null,
    processDelayMs: 20,
  });
  await Promise.all(entries("z", 2).map((e) => d.accept(e, 1)));
  assert.deepEqual(events2, []);
  for (let i = 0; i < 100 && events2.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events2, ["processed z/0"], "processed after processDelayMs without another group");
});

test("processing after a hand-over stops for a report the writer thread posted meanwhile: its acknowledgements do not wait for the rest of a large group", async (t) => {
  const { journal, writer } = await setup(t);
  const events: string[] = [];
  const processed: { topics: string[]; last: number }[] = [];
  const c = threadCommitter(journal, writer, {
    reportWaiting: () => writer.replyWaiting(),
    receiveReports: () => writer.receiveReplies(),
    committed: (es, last) => {
      processed.push({ topics: es.map((e) => e.topic), last });
      for (const e of es) {
        events.push(`processed ${e.topic}`);
        // A slow pipeline: 4 ms per message of group a (a real pipeline takes ~5–10 µs; the
        // writer thread's commit of group b, ~1 ms, must finish while a is being processed).
        if (e.topic.startsWith("a/")) for (const end = performance.now() + 4; performance.now() < end; );
      }
    },
    failed: () => null,
    processDelayMs: 60_000, // this test hands the next group over itself
  });
  await Promise.all(entries("a", 64, 1000).map((e) => c.accept(e, 1)));
  // Group b is handed over at the end of this turn, then a (reported, not processed) is processed
  // while the thread commits b: ~256 ms of processing against a commit of ~1 ms.
  const b = entries("b", 2, 2000).map((e) => c.accept(e, 1).then(() => events.push(`ack ${e.topic}`)));
  await Promise.all(b);
  const ackAt = events.indexOf("ack b/0");
  const aDone = events.filter((e) => e.startsWith("processed a/")).length;
  assert.ok(aDone < 64, `b acknowledged after ${aDone} of a's 64 messages were processed, not after all of them`);
  assert.ok(events.slice(ackAt).every((e) => !e.startsWith("processed b/")), "b is acknowledged before it is processed");
  // Nothing is in flight now: the rest waits for the next hand-over (the devices' next messages are read first).
  const count = () => processed.flatMap((p) => p.topics).length;
  const before = count();
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(count(), before, "with no commit in flight the rest is not processed before the next group is handed over");
  // The next group's hand-over resumes it (how far before c's report stops it again depends on the
  // thread's speed; the timer or the group after c go on): the rest of a, then b, then c, in journal order.
  await c.accept(entries("c", 1, 3000)[0]!, 1);
  c.processCommitted();
  const seqOf = new Map([...journal.after(0)].map((r) => [r.topic, r.seq]));
  assert.deepEqual(
    processed.flatMap((p) => p.topics),
    [...entries("a", 64).map((e) => e.topic), "b/0", "b/1", "c/0"],
    "every message processed once, in journal order",
  );
  for (const p of processed) assert.equal(p.last, seqOf.get(p.topics.at(-1)!), `a slice ending at ${p.topics.at(-1)} reports that message's seq`);
  assert.equal(c.oldestUnprocessedMs(), Infinity);
});

test("a transaction of QoS 0 groups only commits without fsync; one holding a QoS 1 group fsyncs", async (t) => {
  const { journal, writer } = await setup(t);
  const submit = (prefix: string, durable: boolean) =>
    new Promise<number>((resolve, reject) => writer.submit(entries(prefix, 3), (err, last) => (err ? reject(err) : resolve(last)), -1, durable));
  assert.equal(await submit("q0", false), 3);
  assert.deepEqual(writer.commits, { synced: 0, unsynced: 1 });
  assert.equal(await submit("q1", true), 6);
  assert.deepEqual(writer.commits, { synced: 1, unsynced: 1 });
  assert.equal(await submit("q0b", false), 9);
  assert.deepEqual(writer.commits, { synced: 1, unsynced: 2 });
  // Stored alike, whatever the sync mode: the main connection reads all of them in order.
  assert.deepEqual(
    [...journal.after(0)].map((r) => r.topic),
    ["q0/0", "q0/1", "q0/2", "q1/0", "q1/1", "q1/2", "q0b/0", "q0b/1", "q0b/2"],
  );
});

test("group commit: a group of QoS 0 messages only is handed over as not durable, a group with one QoS 1 message as durable", async (t) => {
  const { journal, writer } = await setup(t);
  const handed: { first: string; durable: boolean }[] = [];
  const c = new GroupCommitter({
    commit: (es) => journal.append(es),
    commitAsync: (es, done, durable) => {
      if (!writer.available()) return false;
      handed.push({ first: es[0]!.topic, durable });
      writer.submit(es, (err, last) => done(err, last), -1, durable);
      return true;
    },
    waitIdle: () => writer.waitIdle(),
    committed: () => {},
    failed: () => null,
  });
  for (const e of entries("a", 4)) void c.accept(e, 0);
  await new Promise((r) => setImmediate(r));
  const mixed = entries("b", 4).map((e, i) => c.accept(e, i === 2 ? 1 : 0));
  await new Promise((r) => setImmediate(r));
  for (const e of entries("c", 2)) void c.accept(e, 0);
  await new Promise((r) => setImmediate(r)); // handed over at the end of this turn, not by flush()
  await Promise.all(mixed);
  c.flush();
  assert.deepEqual(handed, [
    { first: "a/0", durable: false },
    { first: "b/0", durable: true },
    { first: "c/0", durable: false },
  ]);
  assert.equal([...journal.after(0)].length, 10);
});

test("GroupCommitter bounds what waits on the writer thread: past maxInFlight the next hand-over waits for the reports (a QoS 0 flood onto a slow disk)", async () => {
  // A writer thread that never reports by itself (a disk slower than the flood): only waitIdle runs its reports.
  const reports: (() => void)[] = [];
  let seq = 0;
  let waits = 0;
  let maxSeen = 0;
  const processed: string[] = [];
  const c = new GroupCommitter({
    commit: () => {
      throw new Error("the writer thread is available: nothing commits on the main thread");
    },
    commitAsync: (es, done) => {
      const last = (seq += es.length);
      reports.push(() => done(null, last));
      return true;
    },
    waitIdle: () => {
      waits++;
      for (const r of reports.splice(0)) r();
    },
    committed: (es) => processed.push(...es.map((e) => e.topic)),
    failed: () => null,
    maxGroup: 5,
    maxInFlight: 10,
  });
  for (let turn = 0; turn < 20; turn++) {
    for (const e of entries(`t${turn}`, 5)) await c.accept(e, 0); // QoS 0: resolves at once
    await new Promise((r) => setImmediate(r)); // the group of this turn is handed over
    maxSeen = Math.max(maxSeen, c.inFlight());
  }
  assert.ok(maxSeen <= 10, `at most maxInFlight entries wait on the thread (saw ${maxSeen})`);
  assert.ok(waits >= 5, `the hand-over waited for the thread's reports (${waits} waits)`);
  c.flush();
  assert.equal(processed.length, 100, "every message processed, none lost to the bound");
  assert.deepEqual(processed.slice(0, 6), ["t0/0", "t0/1", "t0/2", "t0/3", "t0/4", "t1/0"], "in hand-over order");
});

test("a checkpoint blob handed to an idle writer thread is stored without waiting for another request to wake the thread", async (t) => {
  const { db, writer } = await setup(t);
  const bytes = Buffer.from(new SharedArrayBuffer(64));
  bytes.fill(7);
  const t0 = Date.now();
  const err = await new Promise<Error | null>((resolve) => writer.submitBlob(1, 0, bytes, resolve));
  // The idle thread sleeps on its request counter with a 60 s timeout: a blob that does not bump the
  // counter is stored only when that timeout runs out. 10 s leaves room for a loaded machine.
  assert.ok(Date.now() - t0 < 10_000, `stored after ${Date.now() - t0} ms`);
  assert.equal(err, null);
  const row = db.prepare("SELECT data FROM checkpoint_blobs WHERE id = 1").get() as { data: Buffer } | undefined;
  assert.ok(row !== undefined, "the blob row is in the database");
  assert.deepEqual([...row.data], [...bytes]);
});

test("a truncation handed to the writer thread deletes the rows up to its seq, in slices while no group waits, and leaves the later rows", async (t) => {
  const { db, writer } = await setup(t);
  const submit = (prefix: string, n: number) =>
    new Promise<number>((resolve, reject) => writer.submit(entries(prefix, n), (err, last) => (err ? reject(err) : resolve(last))));
  const a = await submit("a", 2500); // more than one slice (256 rows)
  const b = await submit("b", 10);
  // Rows go in multi-row statements of 16 and single rows: seqs follow the group's order, the last one is reported.
  const rows = db.prepare("SELECT seq, topic, client, payload FROM journal ORDER BY seq").all() as { seq: number; topic: string; client: string; payload: Buffer }[];
  assert.equal(rows.length, 2510);
  assert.deepEqual(rows.map((r) => r.topic), [...entries("a", 2500), ...entries("b", 10)].map((e) => e.topic));
  assert.deepEqual(rows.map((r) => r.payload.toString()), [...entries("a", 2500), ...entries("b", 10)].map((e) => e.payload.toString()));
  assert.equal(rows[2499]!.seq, a);
  assert.equal(rows[2509]!.seq, b);
  assert.equal(writer.truncateDone(), true, "nothing asked yet");
  assert.equal(writer.truncate(a), true, "handed over");
  assert.equal(writer.truncateDone(), false, "a slice waits for a quiet gap");
  // A group handed over behind the truncation commits as usual.
  const c = await submit("c", 5);
  const left = () => (db.prepare("SELECT count(*) AS n, min(seq) AS first FROM journal").get() as { n: number; first: number });
  for (let i = 0; i < 200 && left().n !== 15; i++) await new Promise((r) => setTimeout(r, 25));
  assert.deepEqual(left(), { n: 15, first: a + 1 }, "the rows up to the truncation's seq are gone, b's and c's are there");
  for (let i = 0; i < 200 && !writer.truncateDone(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(writer.truncateDone(), true, "the thread says it is done");
  assert.equal(c, b + 5);
  // A truncation up to a seq already deleted through changes nothing.
  writer.truncate(a - 100);
  await submit("d", 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(left().n, 16);
});
