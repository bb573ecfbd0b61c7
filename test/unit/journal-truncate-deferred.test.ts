import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RECOVERY_T0, wireRecovery } from "../helpers/recovery-wiring.js";

/**
 * The tick that flushes a window commits the outbox rows, the position and the checkpoint in one
 * transaction; the journal behind the checkpoint is deleted in a transaction of its own a moment
 * later, so the sender is woken without waiting for that delete. The rows left until then (or after
 * a crash in between) are behind the checkpoint: never replayed, deleted by the next truncation.
 */
const CONFIG = `
topics: [{topic: "d/{vin}", timestamp_field: ts, label_fields: [fleet]}]
aggregation: [{match: "m", interval: 10s, allowed_lateness: 5s, by: [fleet], outputs: [sum_samples]}]
remote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]
`;
const T0 = RECOVERY_T0;

function gateway(path: string) {
  const { out, outbox, durability, core, sink, clock, processed, journalRows } = wireRecovery(path, { config: CONFIG, durability: { writerThread: false } });
  // What the sender sees when it is woken: the rows committed to the outbox and the journal rows at that moment.
  const woken: { outboxRows: number; journalRows: number }[] = [];
  outbox.onAppend(() => woken.push({ outboxRows: outbox.depth().rows, journalRows: journalRows() }));
  return {
    out, woken, journalRows, durability, outbox, core, processed,
    send(vin: string, v: number, ts: number) {
      const entry = { receivedMs: clock.now, topic: `d/${vin}`, clientId: vin, payload: Buffer.from(JSON.stringify({ ts, m: v, fleet: "north" })) };
      durability.committedGroup([entry], durability.commitGroup([entry]));
    },
    /** The gateway's tick at `ms`. */
    tick(ms: number) {
      clock.now = ms;
      const before = sink.pending();
      core.tick(ms);
      return durability.commit(sink.pending() > before, false);
    },
    at(ms: number) {
      clock.now = ms;
    },
  };
}

test("a flushing tick's commit wakes the sender before the journal behind its checkpoint is deleted; the delete follows in its own transaction", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-jtrunc-deferred-"));
  const path = join(dir, "outbox.db");
  try {
    const a = gateway(path);
    a.durability.recover();
    a.send("V1", 10, T0 + 1_000);
    a.send("V2", 20, T0 + 2_000);
    assert.equal(a.journalRows(), 2);
    assert.equal(a.tick(T0 + 15_001), true, "the window [T0, T0+10s) closes at T0 + 15 s");
    assert.deepEqual(a.out.map((s) => s.value), [30]);
    assert.deepEqual(a.woken, [{ outboxRows: 1, journalRows: 2 }], "woken at the commit holding the window, the journal not deleted in it");
    assert.equal(a.durability.journal.load("checkpoint")?.seq, 2, "the checkpoint covers both messages");
    // The delete comes a moment later, without another tick.
    for (let i = 0; i < 100 && a.journalRows() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(a.journalRows(), 0, "deleted behind the checkpoint");
    assert.deepEqual(a.durability.stats().journalRows, 0, "and booked");
    a.durability.close();
    a.outbox.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a stop between the flush's commit and the journal's delete replays nothing of what the checkpoint covers, and the next start deletes the rows", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-jtrunc-deferred-"));
  const path = join(dir, "outbox.db");
  try {
    const a = gateway(path);
    a.durability.recover();
    a.send("V1", 10, T0 + 1_000);
    a.send("V2", 20, T0 + 2_000);
    a.tick(T0 + 15_001);
    assert.equal(a.journalRows(), 2, "the delete has not run yet");
    a.outbox.connection().close(); // the process stops here: no delete, no clean close

    const b = gateway(path);
    b.at(T0 + 16_000);
    b.durability.recover();
    assert.equal(b.processed(), 0, "nothing at or before the checkpoint is replayed");
    assert.equal(b.journalRows(), 0, "the rows behind the checkpoint were deleted at start");
    b.send("V3", 5, T0 + 12_000); // the next window
    b.tick(T0 + 25_001);
    assert.deepEqual(b.out.map((s) => s.value), [5], "the window flushed before the stop is not emitted again");
    b.durability.close(); // at close the pending delete runs
    assert.equal(b.journalRows(), 0, "the next checkpoint's delete took the rows left behind the earlier one too");
    b.outbox.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
