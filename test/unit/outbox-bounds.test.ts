import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import type Database from "better-sqlite3";
import { Outbox, type Eviction, type OutboxOptions } from "../../gateway/outbox/outbox.js";
import { OutboxAdmin } from "../../gateway/outbox/admin.js";
import { OutboxWriteError } from "../../gateway/outbox/errors.js";

function open(t: TestContext, opts: OutboxOptions = {}, file = "o.db"): { ob: Outbox; path: string; evictions: Eviction[] } {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-bounds-"));
  const path = join(dir, file);
  const evictions: Eviction[] = [];
  const ob = Outbox.open(path, { maintenanceIntervalMs: 0, onEvict: (e) => evictions.push(e), ...opts });
  t.after(() => {
    ob.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { ob, path, evictions };
}

const batch = (tag: number, size = 30, samples = 1) => ({ payload: new Uint8Array(size).fill(tag), samples });

function drain(ob: Outbox, target: string): number[] {
  const tags: number[] = [];
  for (let b = ob.oldest(target); b !== undefined; b = ob.oldest(target)) {
    tags.push(b.payload[0]!);
    ob.ack(b.id);
  }
  return tags;
}

test("max_bytes: the oldest batches go first, across targets, and every eviction is reported", (t) => {
  const { ob, evictions } = open(t, { maxBytes: 100 });
  ob.append("a", [batch(1, 30, 2)], 1000);
  ob.append("b", [batch(2, 30, 3)], 1001);
  ob.append("a", [batch(3, 30, 4)], 1002);
  assert.deepEqual(evictions, []);
  ob.append("b", [batch(4, 30, 5)], 1003); // 120 bytes > 100: the oldest (a/1) goes
  assert.deepEqual(evictions, [{ target: "a", reason: "evicted_size", table: "batches", rows: 1, samples: 2, bytes: 30 }]);
  assert.equal(ob.depth().bytes, 90);
  assert.deepEqual(drain(ob, "a"), [3]);
  assert.deepEqual(drain(ob, "b"), [2, 4]);
});

test("max_bytes: dead letters are evicted before waiting batches", (t) => {
  const { ob, evictions } = open(t, { maxBytes: 70 });
  ob.append("a", [batch(1), batch(2)], 1000);
  ob.deadLetter(ob.oldest("a")!, "400", "bad");
  ob.append("a", [batch(3)], 1001); // 90 bytes: the dead letter (older id) goes, not batch 2
  assert.deepEqual(evictions.map((e) => [e.table, e.rows]), [["dead_letters", 1]]);
  assert.equal(ob.deadLetterDepth().rows, 0);
  assert.deepEqual(drain(ob, "a"), [2, 3]);
});

test("the batch a sender holds (leased by oldest()) is never evicted", (t) => {
  const { ob, evictions } = open(t, { maxBytes: 60 });
  ob.append("a", [batch(1), batch(2)], 1000);
  const inFlight = ob.oldest("a")!;
  ob.append("a", [batch(3)], 1001); // 90 > 60: batch 2 goes, not the leased batch 1
  assert.deepEqual(evictions.map((e) => e.rows), [1]);
  assert.equal(ob.ack(inFlight.id), true);
  assert.deepEqual(drain(ob, "a"), [3]);
});

test("rows read ahead by nextRun are leased with the run in flight; ackAndRecordAttempts acks one run and marks the next in one go", (t) => {
  const { ob, evictions } = open(t, { maxBytes: 150 });
  ob.append("a", [batch(1), batch(2)], 1000);
  ob.append("a", [batch(3), batch(4)], 1001);
  const run = ob.oldestRun("a", 2, 10);
  assert.deepEqual(run.map((b) => b.payload[0]), [1, 2]);
  const next = ob.nextRun("a", run[1]!.id, 2, 10);
  assert.deepEqual(next.map((b) => b.payload[0]), [3, 4]);
  ob.append("a", [batch(5), batch(6)], 1002); // 180 > 150: only an unleased row may go (5)
  assert.deepEqual(evictions.map((e) => e.rows), [1]);
  assert.deepEqual(ob.ackAndRecordAttempts("a", run.map((b) => b.id), next.map((b) => b.id)), { rows: 2, samples: 2, bytes: 60 });
  // The next run now carries its attempt: a new oldestRun returns it alone (attempted rows are not merged further).
  const again = ob.oldestRun("a", 10, 10);
  assert.deepEqual(again.map((b) => [b.payload[0], b.attempts]), [[3, 1]]);
  assert.deepEqual(ob.nextRun("a", again[0]!.id, 10, 10), [], "an attempted row does not start a read-ahead run");
  assert.deepEqual(drain(ob, "a"), [3, 4, 6]);
});

test("max_age: maintain() evicts what was committed before now - max_age, oldest first", (t) => {
  const { ob, evictions } = open(t, { maxAgeMs: 10_000 });
  ob.append("a", [batch(1, 30, 7)], 1_000);
  ob.append("b", [batch(2, 30, 1)], 2_000);
  ob.append("a", [batch(3, 30, 1)], 20_000);
  ob.maintain(15_000);
  assert.deepEqual(
    evictions.map((e) => [e.target, e.reason, e.samples]),
    [["a", "evicted_age", 7], ["b", "evicted_age", 1]],
  );
  assert.deepEqual(ob.depth("a"), { rows: 1, bytes: 30, samples: 1, oldestMs: 20_000 });
  assert.equal(ob.depth("b").rows, 0);
});

test("disk full (SQLITE_FULL): old rows make room; what cannot fit throws OutboxWriteError and nothing is half-stored", (t) => {
  const { ob, evictions } = open(t);
  // White-box: cap the file's pages, the same SQLITE_FULL a full disk gives.
  const db = (ob as unknown as { db: Database.Database }).db;
  const pages = db.pragma("page_count", { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + 40}`);
  let i = 0;
  // Fill: 4 KiB batches until the first eviction-to-make-room.
  while (evictions.length === 0 && i < 200) ob.append("a", [batch(i++ % 250, 4096)], 1000 + i);
  assert.ok(evictions.length > 0 && i < 200, `appended ${i} batches without filling the file`);
  assert.equal(evictions[0]!.reason, "evicted_size");
  const before = ob.depth("a");

  const huge = [batch(9, 1024 * 1024, 500)]; // larger than the whole file may grow: cannot fit even when empty
  assert.throws(
    () => ob.append("a", huge, 99_999),
    (err: unknown) => err instanceof OutboxWriteError && err.code === "SQLITE_FULL" && err.diskFull && err.samples === 500 && err.target === "a",
  );
  const after = ob.depth("a");
  assert.ok(after.rows <= before.rows, "a failed append stores nothing");
  ob.append("a", [batch(7, 100)], 100_000); // still usable
  assert.equal(ob.depth("a").rows, after.rows + 1);
});

test("an outbox that was not closed is reported as an unclean stop at the next open, with an integrity check", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-unclean-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "o.db");
  const clean = Outbox.open(path, { maintenanceIntervalMs: 0 });
  assert.equal(clean.startInfo.unclean, false);
  clean.append("a", [batch(1)], 1000);
  clean.close();
  const second = Outbox.open(path, { maintenanceIntervalMs: 0 });
  assert.deepEqual(second.startInfo, { unclean: false, previous: null, integrity: null });
  // `second` is never closed: the next open must notice.
  const third = Outbox.open(path, { maintenanceIntervalMs: 0 });
  t.after(() => {
    third.close();
    second.close();
  });
  assert.equal(third.startInfo.unclean, true);
  assert.equal(third.startInfo.previous?.pid, process.pid);
  assert.equal(third.startInfo.integrity, "ok");
  assert.equal(third.depth("a").rows, 1);
});

test("a requeue by the CLI's connection is noticed: figures reload and listeners are woken", (t) => {
  const { ob, path } = open(t);
  ob.append("a", [batch(1, 30, 5), batch(2, 30, 6)], 1000);
  ob.deadLetter(ob.oldest("a")!, "400", "bad");
  const woken: string[] = [];
  ob.onAppend((target) => woken.push(target));
  const admin = OutboxAdmin.open(path);
  t.after(() => admin.close());
  assert.deepEqual(admin.requeue({ target: "a" }), { rows: 1, samples: 5 });
  assert.equal(ob.depth("a").rows, 1, "not noticed before maintain()");
  ob.maintain();
  assert.deepEqual(woken, ["a"]);
  assert.equal(ob.depth("a").samples, 11);
  assert.equal(ob.deadLetterDepth("a").rows, 0);
  assert.deepEqual(drain(ob, "a"), [1, 2], "the requeued batch is back at its original place, first");
});
