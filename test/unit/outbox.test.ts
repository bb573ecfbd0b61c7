import assert from "node:assert/strict";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { Outbox } from "../../gateway/outbox/outbox.js";

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-outbox-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function payload(tag: number, size = 10): Uint8Array {
  return new Uint8Array(size).fill(tag);
}

test("FIFO per target, ack removes, per-target isolation", (t) => {
  const ob = Outbox.open(join(tempDir(t), "a.db"));
  t.after(() => ob.close());
  ob.append("t1", [{ payload: payload(1), samples: 1 }, { payload: payload(2), samples: 2 }], 1000);
  ob.append("t2", [{ payload: payload(9), samples: 9 }], 1500);
  ob.append("t1", [{ payload: payload(3), samples: 3 }], 2000);

  const seen: number[] = [];
  for (let b = ob.oldest("t1"); b !== undefined; b = ob.oldest("t1")) {
    assert.equal(b.target, "t1");
    seen.push(b.payload[0]!);
    ob.ack(b.id);
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(ob.depth("t1").rows, 0);
  const other = ob.oldest("t2");
  assert.equal(other?.payload[0], 9);
  assert.equal(other?.samples, 9);
  assert.equal(ob.oldest("nobody"), undefined);
});

test("depth figures per target and overall; recordAttempt counts attempts", (t) => {
  const ob = Outbox.open(join(tempDir(t), "d.db"));
  t.after(() => ob.close());
  assert.deepEqual(ob.depth(), { rows: 0, bytes: 0, samples: 0, oldestMs: null });
  ob.append("t1", [{ payload: payload(1, 100), samples: 5 }, { payload: payload(2, 50), samples: 7 }], 1000);
  ob.append("t2", [{ payload: payload(3, 30), samples: 1 }], 500);
  ob.append("t1", [{ payload: payload(4, 20), samples: 2 }], 3000);
  assert.deepEqual(ob.depth("t1"), { rows: 3, bytes: 170, samples: 14, oldestMs: 1000 });
  assert.deepEqual(ob.depth("t2"), { rows: 1, bytes: 30, samples: 1, oldestMs: 500 });
  assert.deepEqual(ob.depth(), { rows: 4, bytes: 200, samples: 15, oldestMs: 500 });

  const first = ob.oldest("t1")!;
  ob.recordAttempt(first.id);
  ob.recordAttempt(first.id);
  assert.equal(ob.oldest("t1")!.attempts, 2);
  ob.ack(first.id);
  ob.ack(first.id); // a second ack of the same id changes nothing
  assert.deepEqual(ob.depth("t1"), { rows: 2, bytes: 70, samples: 9, oldestMs: 1000 });
  assert.equal(ob.oldest("t1")!.payload[0], 2);
});

test("rows persist across close and reopen, with ids still in FIFO order", (t) => {
  const path = join(tempDir(t), "nested", "folder", "p.db");
  const first = Outbox.open(path);
  assert.ok(existsSync(path), "parent folders are created");
  first.append("t1", [{ payload: payload(1), samples: 1 }, { payload: payload(2), samples: 2 }], 1000);
  const acked = first.oldest("t1")!;
  first.ack(acked.id);
  first.close();
  first.close(); // idempotent

  const second = Outbox.open(path);
  t.after(() => second.close());
  assert.deepEqual(second.depth("t1"), { rows: 1, bytes: 10, samples: 2, oldestMs: 1000 });
  second.append("t1", [{ payload: payload(3), samples: 3 }], 2000);
  const a = second.oldest("t1")!;
  assert.equal(a.payload[0], 2);
  assert.ok(a.id > acked.id);
  second.ack(a.id);
  const b = second.oldest("t1")!;
  assert.equal(b.payload[0], 3);
  assert.ok(b.id > a.id, "AUTOINCREMENT never reuses an id");
});

test("the file is in WAL mode and records its schema version", (t) => {
  const path = join(tempDir(t), "w.db");
  const ob = Outbox.open(path);
  ob.close();
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string };
  assert.equal(version.value, "1");
});

test("a file of another schema version is refused with the path in the message", (t) => {
  const path = join(tempDir(t), "v.db");
  Outbox.open(path).close();
  const db = new Database(path);
  db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
  db.close();
  assert.throws(() => Outbox.open(path), (err: Error) => err.message.includes(path) && err.message.includes("99"));
});

test("deadLetter moves the batch in one go and survives a reopen", (t) => {
  const path = join(tempDir(t), "dl.db");
  const ob = Outbox.open(path);
  ob.append("t1", [{ payload: payload(1), samples: 4 }, { payload: payload(2), samples: 6 }], 1000);
  const bad = ob.oldest("t1")!;
  ob.recordAttempt(bad.id);
  ob.deadLetter({ ...bad, attempts: 1 }, "400", "out of order sample", 5000);
  ob.deadLetter(bad, "400", "again"); // already moved: no second dead letter
  assert.equal(ob.oldest("t1")!.payload[0], 2);
  assert.deepEqual(ob.depth("t1"), { rows: 1, bytes: 10, samples: 6, oldestMs: 1000 });
  assert.deepEqual(ob.deadLetterDepth("t1"), { rows: 1, samples: 4, bytes: 10 });
  assert.deepEqual(ob.deadLetterDepth("t2"), { rows: 0, samples: 0, bytes: 0 });
  assert.deepEqual(ob.deadLetterDepth(), { rows: 1, samples: 4, bytes: 10 });
  ob.close();

  const again = Outbox.open(path);
  assert.deepEqual(again.deadLetterDepth("t1"), { rows: 1, samples: 4, bytes: 10 });
  again.close();
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const row = db.prepare("SELECT * FROM dead_letters").get() as Record<string, unknown>;
  assert.equal(row.target, "t1");
  assert.equal(row.batch_id, bad.id);
  assert.equal(row.status, "400");
  assert.equal(row.error, "out of order sample");
  assert.equal(row.created_ms, 1000);
  assert.equal(row.dead_ms, 5000);
  assert.equal(row.samples, 4);
  assert.equal(row.attempts, 1);
  assert.deepEqual(row.payload, Buffer.from(payload(1)));
});

test("onAppend fires after the commit with the target; unsubscribe stops it; an empty append is a no-op", (t) => {
  const ob = Outbox.open(join(tempDir(t), "l.db"));
  t.after(() => ob.close());
  const calls: [string, number][] = [];
  const off = ob.onAppend((target) => calls.push([target, ob.depth(target).rows]));
  ob.append("t1", [{ payload: payload(1), samples: 1 }]);
  ob.append("t2", [{ payload: payload(1), samples: 1 }]);
  ob.append("t1", []);
  off();
  ob.append("t1", [{ payload: payload(1), samples: 1 }]);
  assert.deepEqual(calls, [
    ["t1", 1],
    ["t2", 1],
  ]);
});
