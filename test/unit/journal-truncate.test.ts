import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers/temp-dir.js";
import { test } from "node:test";
import Database from "better-sqlite3";
import { Journal, type JournalEntry } from "../../gateway/outbox/journal.js";

function entries(prefix: string, n: number): JournalEntry[] {
  return Array.from({ length: n }, (_, i) => ({ receivedMs: 1000 + i, topic: `${prefix}/${i}`, clientId: `dev-${prefix}`, payload: Buffer.from("x".repeat(10 + ((i * 7) % 40))) }));
}

/** What the table holds, counted by SQLite: the truth the in-memory gauges must match. */
function truth(db: Database.Database): { rows: number; bytes: number } {
  const r = db.prepare("SELECT count(*) AS rows, coalesce(sum(length(payload) + length(CAST(topic AS BLOB)) + length(CAST(client AS BLOB))), 0) AS bytes FROM journal").get() as { rows: number; bytes: number };
  return { rows: r.rows, bytes: r.bytes };
}

test("journal truncation books rows and bytes exactly: whole groups from memory, a group cut in two and the rows found at open read back", (t) => {
  const path = join(tempDir(t, "edgegate-jtrunc-"), "outbox.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  let journal = new Journal(db);
  const ends: number[] = [];
  for (let g = 0; g < 6; g++) ends.push(journal.append(entries(`g${g}`, 3 + g)));
  assert.deepEqual(journal.stats(), truth(db));
  const cutAt = (seq: number) => {
    const removed = db.transaction(() => journal.truncate(seq))();
    journal.truncated(removed);
    assert.deepEqual(journal.stats(), truth(db), `after truncating at ${seq}`);
  };
  cutAt(ends[1]!); // group boundary
  cutAt(ends[1]!); // nothing more to remove
  cutAt(ends[2]! + 2); // inside group 3
  cutAt(ends[3]!); // the rest of group 3
  // Rows another connection committed (the writer thread), booked with appended().
  const other = new Database(path);
  const otherJournal = new Journal(other);
  const more = entries("w", 5);
  const last = otherJournal.append(more);
  journal.appended(more, last);
  assert.deepEqual(journal.stats(), truth(db));
  cutAt(ends[4]!);
  other.close();
  // At open the journal's rows are one segment: a truncation inside it reads them back.
  journal = new Journal(db);
  assert.deepEqual(journal.stats(), truth(db));
  cutAt(ends[5]! + 1);
  cutAt(last);
  assert.deepEqual(journal.stats(), { rows: 0, bytes: 0 });
  db.close();
});

test("a truncation whose DELETE is left to the writer thread counts its rows as gone once, also when a later truncation deletes them itself; rows a stop left behind the checkpoint are deleted at start", (t) => {
  const path = join(tempDir(t, "edgegate-jtrunc-"), "outbox.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  let journal = new Journal(db);
  const ends: number[] = [];
  for (let g = 0; g < 4; g++) ends.push(journal.append(entries(`g${g}`, 4 + g)));
  const all = truth(db);
  const g0 = entries("g0", 4).reduce((s, e) => s + e.payload.length + Buffer.byteLength(e.topic) + Buffer.byteLength(e.clientId), 0);
  // Left for later: nothing deleted, the rows count as gone.
  const removed = db.transaction(() => journal.truncate(ends[0]!, true))();
  assert.equal(removed.later, true);
  journal.truncated(removed);
  assert.deepEqual(truth(db), all, "the DELETE is not run by truncate(seq, true)");
  assert.deepEqual(journal.stats(), { rows: all.rows - 4, bytes: all.bytes - g0 });
  // A group cut in two (g2 at its second row): that part is deleted in the transaction, its sizes
  // read back; the whole group before it (g1) is booked from memory and left for later with g0,
  // whose rows are not counted twice.
  const cut = db.transaction(() => journal.truncate(ends[1]! + 2, true))();
  assert.equal(cut.later, true);
  assert.equal(truth(db).rows, all.rows - 2, "only the cut group's part was deleted in the transaction");
  journal.truncated(cut);
  assert.deepEqual(journal.stats().rows, all.rows - 4 - 5 - 2);
  journal.deleteThrough(ends[1]! + 2); // what the writer thread then does
  assert.deepEqual(journal.stats(), truth(db));
  // The same cut without `later`: everything up to it deleted in the transaction.
  const now = db.transaction(() => journal.truncate(ends[1]! + 3))();
  assert.equal(now.later, undefined);
  journal.truncated(now);
  assert.deepEqual(journal.stats(), truth(db));
  // Whole groups left for later again, then the process stops before the thread deleted them.
  journal.truncated(db.transaction(() => journal.truncate(ends[2]!, true))());
  db.prepare("INSERT INTO recovery (name, seq, saved_ms, data) VALUES ('checkpoint', ?, 0, '')").run(ends[2]!);
  journal = new Journal(db);
  assert.equal(truth(db).rows, 10, "g2's last 3 rows, behind the checkpoint, are still in the table, and g3's 7");
  assert.equal(journal.stats().rows, 10, "at open the journal counts what the table holds");
  assert.equal(journal.dropCovered(ends[2]!), 3);
  assert.deepEqual(journal.stats(), truth(db));
  assert.equal(truth(db).rows, 7);
  assert.equal(journal.dropCovered(ends[2]!), 0, "nothing more to delete");
  db.close();
});
