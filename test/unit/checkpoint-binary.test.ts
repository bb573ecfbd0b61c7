import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { AggregationRuleInput } from "../../gateway/config/schema-pipeline.js";
import type { Json } from "../../gateway/pipeline/aggregate/output.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";
import { CheckpointEncoder, decodeCheckpoint } from "../../gateway/recovery-codec.js";
import { GroupCommitter } from "../../gateway/ingest/durable-ack.js";
import { parseRules } from "../helpers/aggregation-rules.js";
import { RECOVERY_T0, wireRecovery, type RecoveryWiringOptions } from "../helpers/recovery-wiring.js";

/** A hold ends in a poll-phase callback; what waited is processed after the next poll phase (two check phases on). */
const afterNextPoll = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

/**
 * Binary checkpoints (format 2, gateway/recovery-codec.ts): a run
 * interrupted at any point — checkpoint encoded, stored bytes decoded,
 * restored into a NEW stage — emits exactly what an uninterrupted run emits,
 * and the restored state is the state that produced it (the same JSON
 * snapshot, the same duplicate-check timestamps per window). Format 1 (the
 * JSON text earlier versions wrote) is still restored, through the
 * gateway's recovery, from a real outbox file.
 */

const RULES: AggregationRuleInput[] = [
  {
    match: "m",
    interval: "10s",
    allowed_lateness: "5s",
    by: ["fleet"],
    outputs: ["count_samples", "sum_samples", "avg", "min", "max", "last", "count_series", "stddev", "unique_samples", "quantiles(0.5, 0.9)", "histogram_bucket", "count_distinct(vin)", "sum_first_by(vin)"],
  },
  { match: "m", interval: "10s", allowed_lateness: "5s", by: ["fleet"], outputs: ["total", "increase", "rate_sum", "rate_avg"] },
  { match: "m", interval: "5s", allowed_lateness: "3s", dedup_interval: "1s", without: ["vin"], outputs: ["sum_samples", "count_samples"] },
];

const newStage = (): AggregateStage => new AggregateStage({ rules: parseRules(RULES), forwardUnmatched: false, onDrop: () => undefined });
const fmtOut = (x: Sample) => `${JSON.stringify(x.labels)} ${isStaleNaN(x.value) ? "STALE" : x.value} @${x.timestamp}`;

/** What the gateway stores: the encoder's bytes, copied out of its reused buffer (as SQLite does). */
function encode(stage: AggregateStage, encoder = new CheckpointEncoder(), order: [string, number][][] = []): Buffer {
  return Buffer.from(encoder.encode((blocks) => stage.snapshot(blocks), () => order));
}

function restoreFrom(bytes: Buffer): AggregateStage {
  const data = decodeCheckpoint(bytes);
  assert.equal(data.format, 2);
  const stage = newStage();
  const report = stage.restore(data.aggregate, data.blocks);
  assert.deepEqual(report.discarded, []);
  return stage;
}

/** A stage's state, comparable: the JSON snapshot with each window's timestamps as a sorted map (dedupId → sorted timestamps). */
function state(stage: AggregateStage): Json {
  const snap = JSON.parse(JSON.stringify(stage.snapshot())) as { rules: { windows: { [k: string]: Json }[] }[] };
  for (const rule of snap.rules) {
    for (const w of rule.windows) {
      const ids = w["stampIds"] === undefined ? [] : [...new Float64Array(new Uint8Array(Buffer.from(w["stampIds"] as string, "base64")).buffer)];
      const offs = w["stampOffsets"] === undefined ? [] : [...new Int32Array(new Uint8Array(Buffer.from(w["stampOffsets"] as string, "base64")).buffer)];
      const rows: [number, number[]][] = [];
      for (let r = 0, k = 0; r < ids.length; r++) {
        const n = offs[k++]!;
        rows.push([ids[r]!, offs.slice(k, k + n).sort((a, b) => a - b)]);
        k += n;
      }
      for (const [id, list] of (w["stamps"] as [number, number[]][] | undefined) ?? []) rows.push([id, [...list].map((t) => t - (w["start"] as number)).sort((a, b) => a - b)]);
      rows.sort((a, b) => a[0] - b[0]);
      delete w["stampIds"];
      delete w["stampOffsets"];
      delete w["stamps"];
      w["timestamps"] = rows;
    }
  }
  return snap as unknown as Json;
}

const stepArb = fc.record({
  samples: fc.array(
    fc.record({
      vin: fc.constantFrom("V1", "V2", "V3", "V4"),
      fleet: fc.constantFrom("a", "b"),
      value: fc.integer({ min: 0, max: 50 }),
      timestamp: fc.integer({ min: 0, max: 60_000 }),
    }),
    { maxLength: 15 },
  ),
  advance: fc.integer({ min: 0, max: 9_000 }),
  flush: fc.boolean(),
});

describe("binary checkpoint (format 2)", () => {
  it("an interrupted run emits exactly what an uninterrupted one does; the restored state is the one saved", () => {
    const encoder = new CheckpointEncoder(); // one per gateway: reused from one checkpoint to the next
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), (steps, cuts) => {
        const cutAt = new Set(cuts.map((c) => c % steps.length));
        const whole = newStage();
        let part = newStage();
        const a: string[] = [];
        const b: string[] = [];
        let now = 0;
        steps.forEach((step, i) => {
          now += step.advance;
          const batch = (): Sample[] => step.samples.map((x) => ({ labels: { __name__: "m", vin: x.vin, fleet: x.fleet }, value: x.value, timestamp: x.timestamp }));
          whole.process(batch(), now);
          part.process(batch(), now);
          // Sent again (a device's re-send): duplicates, dropped before and after a restore alike.
          if (i % 2 === 1) {
            whole.process(batch(), now);
            part.process(batch(), now);
          }
          if (step.flush) {
            a.push(...whole.flush(now, false).map(fmtOut));
            b.push(...part.flush(now, false).map(fmtOut));
          }
          if (cutAt.has(i)) {
            const before = state(part);
            part = restoreFrom(encode(part, encoder));
            assert.deepEqual(state(part), before);
          }
        });
        a.push(...whole.flush(now + 100_000, false).map(fmtOut));
        b.push(...part.flush(now + 100_000, false).map(fmtOut));
        assert.deepEqual(b, a);
      }),
      { numRuns: 150 },
    );
  });

  it("restores a series with more timestamps than fit beside its dedupId, and fractional timestamps (kept as JSON rows)", () => {
    const stage = newStage();
    const many: Sample[] = [];
    for (let t = 0; t < 3000; t++) many.push({ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: t, timestamp: 1_000 + t });
    stage.process(many, 0);
    stage.process([{ labels: { __name__: "m", vin: "V2", fleet: "b" }, value: 1, timestamp: 20_000.5 }], 0);
    const before = state(stage);
    const restored = restoreFrom(encode(stage));
    assert.deepEqual(state(restored), before);
    // Every one of the 3,000 timestamps is known again: sending them again adds nothing.
    const drops: string[] = [];
    const again = new AggregateStage({ rules: parseRules(RULES), forwardUnmatched: false, onDrop: (r, n) => drops.push(`${r}:${n}`) });
    const data = decodeCheckpoint(encode(stage));
    again.restore(data.aggregate, data.blocks);
    again.process(many, 0);
    assert.ok(drops.includes(`duplicate:${3000 * RULES.length}`), drops.join(","));
  });

  it("the encoder's buffer is reused: a smaller checkpoint after a bigger one carries nothing of it", () => {
    const encoder = new CheckpointEncoder();
    const big = newStage();
    const samples: Sample[] = [];
    for (let i = 0; i < 5000; i++) samples.push({ labels: { __name__: "m", vin: `V${i}`, fleet: "a" }, value: i, timestamp: 1_000 });
    big.process(samples, 0);
    encode(big, encoder);
    const small = newStage();
    small.process([{ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: 1, timestamp: 1_000 }], 0);
    const bytes = encode(small, encoder, [[["k", 5]]]);
    assert.deepEqual(bytes, encode(small, new CheckpointEncoder(), [[["k", 5]]]));
    assert.deepEqual(decodeCheckpoint(bytes).order, [[["k", 5]]]);
    assert.deepEqual(state(restoreFrom(bytes)), state(small));
  });

  it("reads format 1 (JSON text, earlier versions) and refuses damaged or unknown checkpoints with the reason", () => {
    const stage = newStage();
    stage.process([{ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: 5, timestamp: 1_000 }], 0);
    const v1 = decodeCheckpoint(JSON.stringify({ aggregate: stage.snapshot(), order: [[["k", 7]]] }));
    assert.equal(v1.format, 1);
    assert.deepEqual(v1.order, [[["k", 7]]]);
    const fromV1 = newStage();
    assert.deepEqual(fromV1.restore(v1.aggregate, v1.blocks).discarded, []);
    assert.deepEqual(state(fromV1), state(stage));

    const good = encode(stage);
    assert.throws(() => decodeCheckpoint(good.subarray(0, good.length - 3)), /checkpoint: \d+ bytes, the header says \d+/);
    assert.throws(() => decodeCheckpoint(Buffer.from("not a checkpoint at all")), /no EGCK header/);
    const future = Buffer.from(good);
    future.writeUInt32LE(4, 4);
    assert.throws(() => decodeCheckpoint(future), /format 4, this version reads formats 1 to 3/);
    // A block whose length word points past the blocks: refused, not read out of bounds.
    const damaged = Buffer.from(good);
    damaged.writeUInt32LE(0x7fffffff, 16 + 4);
    assert.throws(() => decodeCheckpoint(damaged), /timestamp block 0 is truncated/);
  });
});

/** The gateway's recovery pieces over a real outbox file (app.ts recover()), with the Durability options a test picks. */
const T0 = RECOVERY_T0;
const wire = (path: string, durability: RecoveryWiringOptions["durability"]) => wireRecovery(path, { durability });

describe("binary checkpoint through the gateway's recovery (real outbox file)", () => {

  function gateway(path: string) {
    const { core, outbox, durability, out, log, clock } = wire(path, { writerThread: false });
    return {
      core, outbox, durability, out, log,
      at(ms: number) { clock.now = ms; },
      send(vin: string, fleet: string, v: number, ts: number) {
        // Journaled, then processed, as the broker's group commit does.
        const entry = { receivedMs: clock.now, topic: `d/${vin}`, clientId: vin, payload: Buffer.from(JSON.stringify({ ts, m: v, fleet })) };
        durability.committedGroup([entry], durability.commitGroup([entry]));
      },
      close() { durability.close(); outbox.close(); },
    };
  }

  it("commits a binary row, restores it at the next start, and drops a re-sent sample as a duplicate", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-"));
    const path = join(dir, "outbox.db");
    try {
      const a = gateway(path);
      a.durability.recover();
      a.send("V1", "north", 10, T0 + 1_000);
      a.send("V2", "north", 20, T0 + 2_000);
      assert.equal(a.durability.commit(false, false, true), true);
      const row = a.durability.journal.load("checkpoint")!;
      assert.ok(Buffer.isBuffer(row.data) && row.data.toString("latin1", 0, 4) === "EGCK", "the checkpoint row is a binary BLOB");
      a.close();

      const b = gateway(path);
      b.at(T0 + 3_000);
      b.durability.recover();
      assert.match(b.log.join(""), /"checkpoint_format":2[^\n]*aggregation state restored from checkpoint/);
      b.send("V1", "north", 10, T0 + 1_000); // re-sent after the restart: already counted
      b.core.tick(T0 + 20_000, true);
      assert.deepEqual(b.out.map((s) => `${s.labels.__name__} ${s.value}`).sort(), ["m:10s_by_fleet_count_series 2", "m:10s_by_fleet_sum_samples 30"]);
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("upgrade: a format-1 (JSON text) checkpoint left in outbox.db by an earlier version is restored; an unreadable one is logged and skipped", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-"));
    const path = join(dir, "outbox.db");
    try {
      const a = gateway(path);
      a.durability.recover();
      a.send("V1", "north", 10, T0 + 1_000);
      a.send("V2", "south", 5, T0 + 1_500);
      // What an earlier version committed: the same transaction, the checkpoint as JSON text.
      const seq = a.durability.stats().processedSeq;
      a.outbox.atomically(() => {
        a.durability.journal.truncate(seq);
        a.durability.journal.savePosition("outbox", seq, T0);
        a.durability.journal.savePosition("checkpoint", seq, T0, JSON.stringify({ aggregate: a.core.built.aggregate.snapshot(), order: [[]] }));
      });
      a.close();

      const b = gateway(path);
      b.at(T0 + 3_000);
      b.durability.recover();
      assert.match(b.log.join(""), /"checkpoint_format":1[^\n]*aggregation state restored from checkpoint/);
      b.send("V1", "north", 7, T0 + 2_000);
      b.core.tick(T0 + 20_000, true);
      assert.deepEqual(b.out.map((s) => `${s.labels.fleet} ${s.labels.__name__} ${s.value}`).sort(), [
        "north m:10s_by_fleet_count_series 1",
        "north m:10s_by_fleet_sum_samples 17",
        "south m:10s_by_fleet_count_series 1",
        "south m:10s_by_fleet_sum_samples 5",
      ]);
      // A row this version does not read (a later format, after a downgrade): the start goes on, logged, with empty windows.
      const later = Buffer.concat([Buffer.from("EGCK"), Buffer.from([4, 0, 0, 0]), Buffer.alloc(8)]);
      b.outbox.atomically(() => b.durability.journal.savePosition("checkpoint", b.durability.stats().processedSeq, T0, later));
      b.close();
      const c = gateway(path);
      c.durability.recover();
      assert.match(c.log.join(""), /checkpoint: format 4, this version reads formats 1 to 3[^\n]*checkpoint not readable; replaying the journal into empty windows/);
      c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("checkpoint off the event loop (blob on the writer thread, processing held)", () => {

  /** The gateway's wiring (app.ts recover()): durability with its writer thread, the group committer, the hold between them. */
  async function gateway(path: string) {
    const { core, outbox, durability: d, out, log, sink, clock } = wire(path, { checkpointOffloadMinSeries: 0 });
    d.recover();
    const c = new GroupCommitter({
      commit: (es) => d.commitGroup(es),
      commitAsync: (es, done, durable) => d.commitGroupAsync(es, done, durable),
      waitIdle: () => d.waitIdle(),
      committed: (es, last) => d.committedGroup(es, last),
      failed: (err, es) => d.groupFailed(err, es),
    });
    d.processCommitted = () => c.processCommitted();
    d.holdProcessing = (on) => c.hold(on);
    // The writer thread starts on first use; bounded wait for it to open the file.
    for (let i = 0; i < 300 && !d.writerReady(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(d.writerReady(), "the writer thread opened the file");
    return {
      core, outbox, d, c, out, log, sink,
      at(ms: number) { clock.now = ms; },
      send(vin: string, fleet: string, v: number, ts: number): Promise<void> {
        return c.accept({ receivedMs: clock.now, topic: `d/${vin}`, clientId: vin, payload: Buffer.from(JSON.stringify({ ts, m: v, fleet })) }, 1);
      },
      close() { d.close(); outbox.close(); },
    };
  }

  const values = (out: Sample[]) => out.map((s) => `${s.labels.fleet} ${s.labels.__name__} ${s.value}`).sort();

  it("a checkpoint of a small state starts no writer thread (an idle gateway does not pay for one)", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-"));
    const path = join(dir, "outbox.db");
    // Default offload threshold (50,000 series), the writer thread enabled as in the gateway.
    const { outbox, durability: d } = wire(path, {});
    try {
      d.recover();
      d.holdProcessing = () => undefined;
      assert.equal(d.commit(false, false, false), true);
      assert.equal(d.commit(true, false, false), true);
      assert.equal(d.writerStarted(), false);
      d.close();
    } finally {
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the tick's commit waits for the blob; messages meanwhile are acknowledged, processed after it; a restart restores it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-"));
    const path = join(dir, "outbox.db");
    try {
      const a = await gateway(path);
      await a.send("V1", "north", 10, T0 + 1_000);
      await a.send("V2", "south", 5, T0 + 1_500);
      a.c.processCommitted();
      const seq = a.d.stats().processedSeq;
      // A window of the previous interval, flushed by this tick: the commit goes off the event loop.
      await a.send("V9", "north", 1, T0 - 9_000);
      a.c.processCommitted();
      // Committed and acknowledged, not processed yet (the committer processes the writer thread's groups a little later).
      await a.send("V3", "north", 7, T0 + 2_000);
      a.at(T0 + 5_100);
      const before = a.out.length;
      a.core.tick(T0 + 5_100);
      assert.ok(a.out.length > before, "the tick flushed a window");
      const held = a.d.stats().processedSeq;
      assert.equal(a.d.commit(true, false), true);
      assert.equal(a.d.busy(), true, "the checkpoint is being written off the event loop");
      assert.equal(a.outbox.depth().rows, 0, "the flushed window's rows wait for the checkpoint's commit");
      a.c.processCommitted();
      assert.equal(a.d.stats().processedSeq, held, "processing is held while the checkpoint is written");
      await a.d.settled();
      assert.equal(a.d.busy(), false);
      assert.ok(a.outbox.depth().rows > 0, "the flushed window's rows were committed with the checkpoint");
      assert.equal(a.d.stats().processedSeq, held, "not in the commit's own turn");
      await afterNextPoll();
      assert.ok(a.d.stats().processedSeq > held, "what waited was processed after the commit");
      const row = a.d.journal.load("checkpoint")!;
      assert.equal(row.seq, held);
      assert.ok(seq < held);
      assert.ok(Buffer.isBuffer(row.data) && row.data.readUInt32LE(4) === 3, "the row refers to a blob (format 3)");
      a.close();

      const b = await gateway(path);
      b.at(T0 + 3_000);
      assert.match(b.log.join(""), /"checkpoint_format":3[^\n]*aggregation state restored from checkpoint/);
      await b.send("V1", "north", 10, T0 + 1_000); // re-sent: counted once
      b.c.processCommitted();
      b.core.tick(T0 + 20_000, true);
      assert.deepEqual(values(b.out), [
        "north m:10s_by_fleet_count_series 2",
        "north m:10s_by_fleet_sum_samples 17",
        "south m:10s_by_fleet_count_series 1",
        "south m:10s_by_fleet_sum_samples 5",
      ]);
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a blob no committed checkpoint refers to (a stop between the blob and its commit) is not restored and is deleted at start", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgegate-ckpt-"));
    const path = join(dir, "outbox.db");
    try {
      const a = await gateway(path);
      await a.send("V1", "north", 10, T0 + 1_000);
      a.c.processCommitted();
      a.d.commit(false, false, true); // a checkpoint in the transaction (forced)
      await a.send("V2", "north", 20, T0 + 2_000);
      a.c.processCommitted();
      // What a stop after the blob and before its commit leaves: a blob of a later state, not referred to.
      const other = new AggregateStage({ rules: parseRules([{ match: "m", interval: "10s", by: ["fleet"], outputs: ["sum_samples"] }]), forwardUnmatched: false, onDrop: () => undefined });
      const orphan = Buffer.from(new CheckpointEncoder().encode((blocks) => other.snapshot(blocks), () => []));
      a.outbox.connection().prepare("INSERT INTO checkpoint_blobs (id, data) VALUES (?, ?)").run(77, orphan);
      a.close();

      const b = await gateway(path);
      assert.match(b.log.join(""), /"checkpoint_format":2[^\n]*aggregation state restored from checkpoint/);
      assert.deepEqual(b.outbox.connection().prepare("SELECT id FROM checkpoint_blobs").all(), []);
      b.at(T0 + 3_000);
      b.core.tick(T0 + 20_000, true);
      assert.deepEqual(values(b.out), ["north m:10s_by_fleet_count_series 2", "north m:10s_by_fleet_sum_samples 30"]);
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

it("GroupCommitter.hold: groups committed while held are acknowledged, processed in journal order when it ends", async () => {
  const processed: string[] = [];
  let seq = 0;
  const c = new GroupCommitter({
    commit: (es) => (seq += es.length),
    committed: (es) => void processed.push(...es.map((e) => e.topic)),
    failed: () => null,
  });
  const entry = (topic: string) => ({ receivedMs: 0, topic, clientId: "d", payload: Buffer.alloc(0) });
  await c.accept(entry("a"), 1);
  c.hold(true);
  await c.accept(entry("b"), 1); // acknowledged: durable in the journal
  await c.accept(entry("c"), 1);
  c.processCommitted();
  assert.deepEqual(processed, ["a"], "nothing is processed while held");
  assert.equal(c.oldestUnprocessedMs(), 0, "the tick's clock is held back by what waits");
  c.hold(false);
  assert.deepEqual(processed, ["a"], "resuming processes from the next turn: the turn that ends a hold committed the checkpoint");
  await afterNextPoll();
  assert.deepEqual(processed, ["a", "b", "c"]);
  assert.equal(c.oldestUnprocessedMs(), Infinity);
});
