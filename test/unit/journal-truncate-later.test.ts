import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers/temp-dir.js";
import type { JournalEntry } from "../../gateway/outbox/journal.js";
import { RECOVERY_T0, wireRecovery } from "../helpers/recovery-wiring.js";

/**
 * A checkpoint leaves the DELETE of the journal rows it covers to the writer thread (off the event
 * loop): the rows count as gone from the commit on, the thread deletes them after its group
 * commits, and rows a stop left behind the checkpoint are deleted at the next start, never replayed.
 */
const T0 = RECOVERY_T0;

function gateway(path: string, maxBuffered?: number) {
  // As the gateway wires it: samples of a replayed entry at or behind the outbox position are not written again.
  const { outbox, durability, out, log, core, sink, clock, journalRows } = wireRecovery(path, { maxBuffered, skipCommittedRaw: true });
  const entry = (vin: string, v: number, ts: number): JournalEntry => ({ receivedMs: clock.now, topic: `d/${vin}`, clientId: vin, payload: Buffer.from(JSON.stringify({ ts, m: v, fleet: "north" })) });
  return {
    outbox, durability, out, log, core, sink,
    /** Rows in the journal table, counted by SQLite. */
    rows: journalRows,
    /** A group committed on the writer thread, then processed, as the broker's group commit does. */
    async sendAsync(es: JournalEntry[]) {
      const last = await new Promise<number>((resolve, reject) => {
        assert.ok(durability.commitGroupAsync(es, (err, seq) => (err ? reject(err) : resolve(seq))), "handed to the writer thread");
      });
      durability.committedGroup(es, last);
    },
    entry,
    /** Starts the writer thread and waits (bounded) until it has opened the file. */
    async writerOpened() {
      for (let i = 0; i < 300 && !durability.writerReady(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(durability.writerReady(), "the writer thread opened the file");
    },
    close() { durability.close(); outbox.close(); },
  };
}

describe("journal truncation on the writer thread", () => {
  it("a checkpoint with the writer thread running books the covered rows as gone at once; the thread deletes them", async (t) => {
    const path = join(tempDir(t, "edgegate-jtl-"), "outbox.db");
    const a = gateway(path);
    a.durability.recover();
    await a.writerOpened();
    for (let g = 0; g < 5; g++) await a.sendAsync(Array.from({ length: 600 }, (_, i) => a.entry(`V${g}-${i}`, 1, T0 + 1_000)));
    assert.equal(a.rows(), 3000);
    assert.equal(a.durability.commit(false, false, true), true);
    assert.equal(a.durability.stats().journalRows, 0, "the gauges count the rows as gone from the commit on");
    for (let i = 0; i < 200 && a.rows() > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(a.rows(), 0, "the writer thread deleted them (in slices)");
    await a.sendAsync([a.entry("W", 2, T0 + 2_000)]);
    assert.equal(a.rows(), 1);
    assert.equal(a.durability.stats().journalRows, 1);
    a.close();
  });

  it("a checkpoint while the thread has not finished the previous truncation (no quiet gap yet) deletes the rows in a transaction of its own right after", async (t) => {
    const path = join(tempDir(t, "edgegate-jtl-"), "outbox.db");
    const a = gateway(path);
    a.durability.recover();
    await a.writerOpened();
    const writer = (a.durability as unknown as { writer: { truncateDone(): boolean } }).writer;
    let checked = false;
    // The thread waits for 20 ms without requests before a slice: the second checkpoint follows the
    // first at once. Tried again if this process was descheduled for that long in between.
    for (let attempt = 0; attempt < 5 && !checked; attempt++) {
      await a.sendAsync(Array.from({ length: 300 }, (_, i) => a.entry(`V${attempt}-${i}`, 1, T0 + 1_000)));
      assert.equal(a.durability.commit(false, false, true), true);
      assert.ok(a.rows() > 0, "the first checkpoint leaves the DELETE to the thread");
      const more = [a.entry(`W${attempt}`, 2, T0 + 2_000)];
      a.durability.committedGroup(more, a.durability.commitGroup(more));
      if (writer.truncateDone()) continue;
      assert.equal(a.durability.commit(false, false, true), true);
      assert.ok(a.rows() > 0, "not in the checkpoint's transaction: off the path from a window's close to its request");
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(a.rows(), 0, "deleted every covered row soon after, the thread's pending ones with them");
      assert.equal(a.durability.stats().journalRows, 0);
      checked = true;
    }
    assert.ok(checked, "the second checkpoint came before the thread's quiet gap in one of 5 tries");
    a.close();
  });

  it("rows a stop left behind the committed checkpoint (the thread had not deleted them) are deleted at the next start and not replayed", async (t) => {
    const path = join(tempDir(t, "edgegate-jtl-"), "outbox.db");
    const a = gateway(path);
    a.durability.recover();
    const covered = [a.entry("V1", 10, T0 + 1_000), a.entry("V2", 20, T0 + 2_000)];
    const seq = a.durability.commitGroup(covered);
    a.durability.committedGroup(covered, seq);
    // The checkpoint's transaction as the gateway commits it with the DELETE left for the thread,
    // and the stop before the thread ran it.
    a.outbox.atomically(() => {
      const removed = a.durability.journal.truncate(seq, true);
      assert.equal(removed.later, true);
      a.durability.journal.savePosition("outbox", seq, T0);
      a.durability.journal.savePosition("checkpoint", seq, T0, JSON.stringify({ aggregate: a.core.built.aggregate.snapshot(), order: [[]] }));
    });
    const after = [a.entry("V3", 5, T0 + 3_000)];
    a.durability.commitGroup(after);
    assert.equal(a.rows(), 3, "the covered rows are still in the table");
    a.outbox.close(); // a stop without the final commit

    const b = gateway(path);
    const r = b.durability.recover();
    assert.equal(r.replayed, 1, "only the row after the checkpoint is replayed");
    assert.match(b.log.join(""), /"rows":2[^\n]*deleted journal rows the checkpoint covers/);
    assert.equal(b.rows(), 1);
    assert.equal(b.durability.stats().journalRows, 1, "the gauges count what is left");
    b.core.tick(T0 + 20_000, true);
    assert.deepEqual(b.out.map((s) => `${s.labels.__name__} ${s.value}`).sort(), ["m:10s_by_fleet_count_series 3", "m:10s_by_fleet_sum_samples 35"]);
    b.close();
  });
});

describe("outbox position", () => {
  it("a tick with processed entries that left nothing for the outbox commits no transaction for the position alone; replay after a stop still writes each raw sample once", (t) => {
    const path = join(tempDir(t, "edgegate-jtl-"), "outbox.db");
    const a = gateway(path);
    a.durability.recover();
    const send = (es: JournalEntry[]) => a.durability.committedGroup(es, a.durability.commitGroup(es));
    send([a.entry("V1", 10, T0 + 1_000)]);
    assert.equal(a.sink.pending(), 0, "the rule's samples wait in the open window: nothing for the outbox");
    const tx0 = a.outbox.connection().prepare("SELECT total_changes() AS n").get() as { n: number };
    assert.equal(a.durability.commit(false, false), true);
    const tx1 = a.outbox.connection().prepare("SELECT total_changes() AS n").get() as { n: number };
    assert.equal(tx1.n, tx0.n, "no row written: the position waits for a commit with rows");
    assert.equal(a.durability.journal.load("outbox"), undefined);
    // A raw sample (no rule matches): committed with the position that covers it.
    send([{ ...a.entry("V2", 0, T0 + 1_500), payload: Buffer.from(JSON.stringify({ ts: T0 + 1_500, other: 3, fleet: "north" })) }]);
    assert.ok(a.sink.pending() > 0);
    assert.equal(a.durability.commit(false, false), true);
    assert.equal(a.durability.journal.load("outbox")?.seq, 2);
    a.outbox.close(); // a stop without the final commit

    const b = gateway(path);
    const r = b.durability.recover();
    assert.equal(r.replayed, 2);
    assert.equal(r.skippedRaw, 2, "both entries are at or behind the committed position: their raw samples are not written again");
    b.core.tick(T0 + 20_000, true);
    assert.deepEqual(b.out.map((s) => `${s.labels.__name__} ${s.value}`).sort(), ["m:10s_by_fleet_count_series 1", "m:10s_by_fleet_sum_samples 10"]);
    b.close();
  });

  it("samples the sink's buffer bound wrote to the outbox between ticks get their position committed at the next tick", (t) => {
    const path = join(tempDir(t, "edgegate-jtl-"), "outbox.db");
    const a = gateway(path, 1);
    a.durability.recover();
    const raw = { ...a.entry("V2", 0, T0 + 1_500), payload: Buffer.from(JSON.stringify({ ts: T0 + 1_500, other: 3, fleet: "north" })) };
    a.durability.committedGroup([raw], a.durability.commitGroup([raw]));
    assert.equal(a.sink.pending(), 0, "written to the outbox at once (buffer bound 1)");
    assert.equal(a.sink.unpositioned(), true);
    assert.equal(a.durability.commit(false, false), true);
    assert.equal(a.durability.journal.load("outbox")?.seq, 1, "the position covering the written sample is committed");
    assert.equal(a.sink.unpositioned(), false);
    a.close();
  });
});
