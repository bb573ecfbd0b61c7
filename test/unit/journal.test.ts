import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Journal, type JournalEntry } from "../../gateway/outbox/journal.js";

const entry = (i: number): JournalEntry => ({ receivedMs: 1000 + i, topic: `vehicles/V${i % 7}/telemetry`, clientId: `c${i % 3}`, payload: Buffer.alloc(10 + (i % 13), i) });

/** What the table holds, computed by SQLite: the truth the in-memory gauges must equal. */
function actual(db: Database.Database): { rows: number; bytes: number } {
  const r = db.prepare("SELECT count(*) AS rows, coalesce(sum(length(payload) + length(CAST(topic AS BLOB)) + length(CAST(client AS BLOB))), 0) AS bytes FROM journal").get() as { rows: number; bytes: number };
  return { rows: r.rows, bytes: r.bytes };
}

describe("journal truncation booked from the committed groups", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-journal-"));
  const open = () => {
    const db = new Database(join(dir, "j.db"));
    db.pragma("journal_mode = WAL");
    return { db, journal: new Journal(db) };
  };
  const truncate = (db: Database.Database, journal: Journal, seq: number) => {
    const removed = db.transaction(() => journal.truncate(seq))();
    journal.truncated(removed);
    return removed;
  };

  it("keeps rows and bytes equal to the table's through group-end, mid-group, rolled-back and after-restart truncations", (t) => {
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    let { db, journal } = open();
    let n = 0;
    const ends: number[] = [];
    for (const size of [5, 1, 12, 3, 40, 2, 7]) {
      const group = Array.from({ length: size }, () => entry(n++));
      ends.push(journal.append(group));
    }
    assert.deepEqual(journal.stats(), actual(db));
    assert.equal(journal.stats().rows, 70);

    // At group ends (the gateway's usual positions).
    const r1 = truncate(db, journal, ends[1]!);
    assert.equal(r1.rows, 6);
    assert.deepEqual(journal.stats(), actual(db));
    // Inside a group (a checkpoint during replay): the rows are read back, the group's rest stays booked.
    truncate(db, journal, ends[2]! - 4);
    assert.equal(actual(db).rows, 70 - 6 - 8, "the first 8 of the 12-row group are deleted");
    assert.deepEqual(journal.stats(), actual(db));
    truncate(db, journal, ends[3]!);
    assert.deepEqual(journal.stats(), actual(db));
    // A position before every remaining row deletes nothing.
    assert.equal(truncate(db, journal, ends[0]!).rows, 0);
    assert.deepEqual(journal.stats(), actual(db));

    // A truncation whose transaction rolls back (disk full) is not booked.
    const before = journal.stats();
    assert.throws(() =>
      db.transaction(() => {
        journal.truncate(ends[4]!);
        throw new Error("SQLITE_FULL");
      })(),
    );
    assert.deepEqual(journal.stats(), before);
    assert.deepEqual(actual(db), before);

    // Another connection's commits (the writer thread) are booked by `appended`.
    const other = new Database(join(dir, "j.db"));
    const ins = other.prepare("INSERT INTO journal (received_ms, kind, topic, client, payload) VALUES (?, 0, ?, ?, ?)");
    const group = Array.from({ length: 9 }, () => entry(n++));
    const last = other.transaction(() => {
      let seq = 0;
      for (const e of group) seq = Number(ins.run(e.receivedMs, e.topic, e.clientId, e.payload).lastInsertRowid);
      return seq;
    })();
    other.close();
    journal.appended(group, last);
    assert.deepEqual(journal.stats(), actual(db));

    // After a restart the rows found at open are one group whose seqs have gaps: exact either way.
    db.close();
    ({ db, journal } = open());
    assert.deepEqual(journal.stats(), actual(db));
    truncate(db, journal, ends[5]! - 1);
    assert.equal(actual(db).rows, 1 + 7 + 9, "up to one before the end of the 2-row group");
    assert.deepEqual(journal.stats(), actual(db));
    ends.push(journal.append([entry(n++), entry(n++)]));
    truncate(db, journal, last);
    assert.deepEqual(journal.stats(), actual(db));
    assert.equal(journal.stats().rows, 2);
    truncate(db, journal, ends.at(-1)!);
    assert.deepEqual(journal.stats(), { rows: 0, bytes: 0 });
    assert.deepEqual(actual(db), { rows: 0, bytes: 0 });
    db.close();
  });
});
