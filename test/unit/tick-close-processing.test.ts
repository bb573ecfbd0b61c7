import assert from "node:assert/strict";
import { test } from "node:test";
import { GroupCommitter } from "../../gateway/ingest/durable-ack.js";
import type { JournalEntry } from "../../gateway/ingest/durable-ack.js";

/** A hold ends in a poll-phase callback; what waited is processed after the next poll phase (two check phases on). */
const afterNextPoll = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

/**
 * The tick that closes a window processes only what arrived before the window's close
 * (processCommittedBefore); what arrived later cannot hold the clock below the close and is
 * processed in slices after the tick's turn. The writer thread is replaced by a hand-driven
 * commitAsync: this test is about the order and the bounds of processing, not the commit.
 */
function setup(bounds: { maxGroup?: number; maxUnprocessed?: number } = {}) {
  const processed: { topics: string[]; lastSeq: number }[] = [];
  const inFlight: { entries: readonly JournalEntry[]; done: (err: Error | null, lastSeq: number) => void }[] = [];
  let seq = 0;
  const c = new GroupCommitter({
    commit: () => {
      throw new Error("the thread is always available here");
    },
    commitAsync: (entries, done) => {
      inFlight.push({ entries, done });
      return true;
    },
    committed: (es, lastSeq) => processed.push({ topics: es.map((e) => e.topic), lastSeq }),
    failed: () => null,
    processDelayMs: 60_000, // no timer: only the calls under test process
    ...bounds,
  });
  /** One event-loop turn's group of messages arriving at `times`, handed over to the (fake) thread. */
  async function group(name: string, times: number[]): Promise<void> {
    for (const [i, t] of times.entries()) void c.accept({ receivedMs: t, topic: `${name}${i}`, clientId: "dev", payload: Buffer.alloc(0) }, 0);
    await new Promise((r) => setImmediate(r)); // handed over at the end of the turn
  }
  /** The thread reports every group handed over (committed, in hand-over order); none is processed yet. */
  function reportAll(groups = inFlight.length): void {
    for (const g of inFlight.splice(0, groups)) {
      seq += g.entries.length;
      g.done(null, seq);
    }
  }
  return { c, processed, group, reportAll };
}

test("a window-close tick processes the groups that arrived before the close, cuts the group that spans it, and leaves the rest", async () => {
  const { c, processed, group, reportAll } = setup();
  await group("a", [1000, 1001, 1002]); // seqs 1-3
  await group("b", [1998, 1999, 2000, 2001]); // seqs 4-7
  await group("c", [2500, 2501]); // seqs 8-9
  reportAll();
  assert.deepEqual(processed, [], "reported, not processed yet");
  assert.equal(c.oldestUnprocessedMs(), 1000);

  c.processCommittedBefore(2000);
  assert.deepEqual(
    processed,
    [
      { topics: ["a0", "a1", "a2"], lastSeq: 3 },
      { topics: ["b0", "b1"], lastSeq: 5 },
    ],
    "journal order, up to the last message that arrived before 2000; the cut slice ends at its own seq",
  );
  assert.equal(c.oldestUnprocessedMs(), 2000, "what is left no longer holds the clock below the window's close");

  // The rest follows after this turn, in journal order, without another call.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(processed.slice(2), [
    { topics: ["b2", "b3"], lastSeq: 7 },
    { topics: ["c0", "c1"], lastSeq: 9 },
  ]);
  assert.equal(c.oldestUnprocessedMs(), Infinity);
});

test("processCommittedBefore: nothing before the bound processes nothing; an arrival out of order (clock stepped back) is processed with everything before it", async () => {
  const { c, processed, group, reportAll } = setup();
  await group("a", [3000, 3001]);
  reportAll();
  c.processCommittedBefore(2000);
  assert.deepEqual(processed, [], "every waiting message arrived after the bound");
  assert.equal(c.oldestUnprocessedMs(), 3000);
  await new Promise((r) => setImmediate(r));
  assert.equal(processed.length, 1, "then processed after the turn");

  await group("b", [4000, 4100, 3990, 4200]); // the clock stepped back 110 ms at b2
  reportAll();
  c.processCommittedBefore(4050);
  assert.deepEqual(processed.slice(1), [{ topics: ["b0", "b1", "b2"], lastSeq: 5 }], "up to the last message that arrived before the bound, in journal order");
  assert.equal(c.oldestUnprocessedMs(), 4200);
});

test("processCommittedBefore processes nothing while processing is held (a checkpoint of the state is being written)", async () => {
  const { c, processed, group, reportAll } = setup();
  await group("a", [1000]);
  reportAll();
  c.hold(true);
  c.processCommittedBefore(2000);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(processed, []);
  assert.equal(c.oldestUnprocessedMs(), 1000);
  c.hold(false);
  await afterNextPoll();
  assert.deepEqual(processed, [{ topics: ["a0"], lastSeq: 1 }]);
});

test("backpressure: a report that leaves more than maxUnprocessed entries waiting processes the oldest groups at once, in journal order", async () => {
  const { c, processed, group, reportAll } = setup({ maxGroup: 100, maxUnprocessed: 5 });
  // Three groups handed over before any report (a hand-over processes what was reported before it).
  await group("a", [1000, 1001]); // seqs 1-2
  await group("b", [1002, 1003]); // seqs 3-4
  await group("c", [1004, 1005, 1006]); // seqs 5-7
  reportAll(2);
  assert.equal(processed.length, 0, "4 waiting, within the bound: left for the next hand-over");
  assert.equal(c.waitingEntries(), 4);

  reportAll(1);
  assert.deepEqual(processed, [{ topics: ["a0", "a1"], lastSeq: 2 }], "7 waiting: the oldest group is processed in the report's turn, down to the bound");
  assert.equal(c.waitingEntries(), 5);
  assert.equal(c.oldestUnprocessedMs(), 1002);

  // While held (a checkpoint is being written) nothing is processed, bound or not; resuming drains in order.
  c.hold(true);
  await group("d", [1007, 1008, 1009]);
  reportAll();
  assert.equal(processed.length, 1);
  assert.equal(c.waitingEntries(), 8);
  c.hold(false);
  await afterNextPoll();
  assert.deepEqual(
    processed.map((p) => p.lastSeq),
    [2, 4, 7, 10],
  );
  assert.equal(c.waitingEntries(), 0);
});

test("resuming after a hold drains a big group in slices across turns, in journal order, with exact positions", async () => {
  const processed: { n: number; first: string; lastSeq: number }[] = [];
  let seq = 0;
  const c = new GroupCommitter({
    commit: (es) => (seq += es.length),
    committed: (es, lastSeq) => {
      processed.push({ n: es.length, first: es[0]!.topic, lastSeq });
      const until = performance.now() + 12; // more than one turn's budget for any slice
      while (performance.now() < until);
    },
    failed: () => null,
    processDelayMs: 60_000,
  });
  c.hold(true);
  const accepted: Promise<unknown>[] = [];
  for (let i = 0; i < 600; i++) accepted.push(c.accept({ receivedMs: 1000 + i, topic: `m${i}`, clientId: "dev", payload: Buffer.alloc(0) }, 1));
  await Promise.all(accepted); // one group of 600, committed and acknowledged while held
  assert.equal(c.waitingEntries(), 600);
  c.hold(false);
  assert.equal(processed.length, 0, "not in the turn that ends the hold");
  await afterNextPoll();
  assert.deepEqual(processed, [{ n: 256, first: "m0", lastSeq: 256 }], "one slice per turn once the budget is spent, not the whole group");
  for (let i = 0; i < 10 && c.waitingEntries() > 0; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    processed.map((p) => [p.first, p.lastSeq]),
    [
      ["m0", 256],
      ["m256", 512],
      ["m512", 600],
    ],
  );
  assert.equal(c.oldestUnprocessedMs(), Infinity);
});

test("a window-close tick hands over at once a waiting group that holds the clock below the close, not one that arrived after it", async () => {
  const processed: number[] = [];
  const handed: number[][] = [];
  const c = new GroupCommitter({
    commit: () => {
      throw new Error("the thread is always available here");
    },
    commitAsync: (entries) => {
      handed.push(entries.map((e) => e.receivedMs));
      return true;
    },
    committed: (es) => processed.push(...es.map((e) => e.receivedMs)),
    failed: () => null,
    processDelayMs: 60_000,
  });
  const accept = (t: number) => void c.accept({ receivedMs: t, topic: "t", clientId: "dev", payload: Buffer.alloc(0) }, 0);
  // Accepted during one long poll phase: the group waits for the end of the turn to be handed over.
  accept(2998);
  accept(3001);
  assert.equal(c.oldestUnprocessedMs(), 2998, "the waiting group holds the clock below a close due at 3000");
  c.processCommittedBefore(3000);
  assert.deepEqual(handed, [[2998, 3001]], "handed over in the tick's own turn, so its report can free the clock");
  assert.equal(c.pending(), 0);
  assert.equal(c.inFlight(), 2);

  accept(3005);
  c.processCommittedBefore(3000);
  assert.equal(handed.length, 1, "a group that arrived after the close cannot hold it: it waits for the end of the turn");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(handed, [[2998, 3001], [3005]], "handed over at the end of the turn as usual, once");
  assert.deepEqual(processed, []);
});

test("a window-close tick receives the writer thread's waiting reports first: a group committed but not yet reported no longer holds the close", async () => {
  const processed: number[] = [];
  const finished: (() => void)[] = []; // commits the thread has finished, their reports not delivered yet
  const c = new GroupCommitter({
    commit: () => {
      throw new Error("the thread is always available here");
    },
    commitAsync: (entries, done) => {
      finished.push(() => done(null, entries.length));
      return true;
    },
    reportWaiting: () => finished.length > 0,
    receiveReports: () => {
      for (const f of finished.splice(0)) f();
    },
    committed: (es) => processed.push(...es.map((e) => e.receivedMs)),
    failed: () => null,
    processDelayMs: 60_000,
  });
  void c.accept({ receivedMs: 2990, topic: "t", clientId: "dev", payload: Buffer.alloc(0) }, 0);
  void c.accept({ receivedMs: 3010, topic: "t", clientId: "dev", payload: Buffer.alloc(0) }, 0);
  await new Promise((r) => setImmediate(r)); // handed over; the thread has committed it, the event loop has not delivered the report
  assert.equal(c.oldestUnprocessedMs(), 2990, "in flight: holds the clock");
  c.processCommittedBefore(3000);
  assert.deepEqual(processed, [2990], "received, and what arrived before the close processed, in the tick's turn");
  assert.equal(c.oldestUnprocessedMs(), 3010, "the close at 3000 can go out now");
});
