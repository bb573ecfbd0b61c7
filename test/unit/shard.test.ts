import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutboxAdmin } from "../../gateway/outbox/admin.js";
import { Outbox } from "../../gateway/outbox/outbox.js";
import { queueName, queueNames, queueTarget } from "../../gateway/remote-write/queue-names.js";
import { toTimeSeries } from "../../gateway/remote-write/codec.js";
import { shardOf, splitByShard } from "../../gateway/remote-write/shard.js";

const labels = (i: number) => [
  { name: "__name__", value: "temp" },
  { name: "device", value: `dev-${i}` },
];

test("shardOf is a pure function of the sorted labels: same series, same shard", () => {
  for (let i = 0; i < 200; i++) {
    const a = shardOf(labels(i), 4);
    assert.equal(shardOf(structuredClone(labels(i)), 4), a);
    // Through toTimeSeries (labels given in another order, other samples): the same shard.
    const { series } = toTimeSeries([{ labels: { device: `dev-${i}`, __name__: "temp" }, value: i, timestamp: 1000 + i }]);
    assert.equal(shardOf(series[0]!.labels, 4), a);
  }
  // Pinned values: a backlog committed by an older version must map to the same shards.
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => shardOf(labels(i), 4)), PINNED);
  assert.equal(shardOf(labels(1), 1), 0);
});

// FNV-1a of "__name__\0temp\0device\0dev-<i>\0", mod 4.
const PINNED = [0, 1, 2, 3, 4, 5].map((i) => fnvReference(`__name__\0temp\0device\0dev-${i}\0`) % 4);

function fnvReference(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

test("shardOf spreads series over the shards, and name/value boundaries matter", () => {
  for (const shards of [2, 4, 7]) {
    const counts = new Array<number>(shards).fill(0);
    const n = 4000;
    for (let i = 0; i < n; i++) counts[shardOf(labels(i), shards)]!++;
    const expected = n / shards;
    for (const c of counts) assert.ok(Math.abs(c - expected) < expected * 0.2, `shards=${shards}: ${counts.join(",")}`);
  }
  const spread = new Set<number>();
  for (let i = 0; i < 64; i++) spread.add(shardOf([{ name: "a", value: `x${i}` }], 8));
  assert.equal(spread.size, 8);
});

test("splitByShard keeps each series once, in order, in its shard", () => {
  const { series } = toTimeSeries(Array.from({ length: 100 }, (_, i) => ({ labels: { __name__: "m", device: `d${i}` }, value: i, timestamp: i })));
  const parts = splitByShard(series, 4);
  assert.equal(parts.length, 4);
  assert.equal(parts.flat().length, series.length);
  parts.forEach((part, k) => {
    for (const s of part) assert.equal(shardOf(s.labels, 4), k);
    const order = part.map((s) => series.indexOf(s));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  });
});

test("queue names: one queue per shard, each mapping back to its target", () => {
  assert.deepEqual(queueNames("prom", 1), ["prom"]);
  assert.deepEqual(queueNames("prom", 3), ["prom#0/3", "prom#1/3", "prom#2/3"]);
  assert.equal(queueName("127.0.0.1:9090", 2, 4), "127.0.0.1:9090#2/4");
  for (const q of [...queueNames("prom", 4), "prom"]) assert.equal(queueTarget(q), "prom");
  assert.equal(queueTarget("prom_2"), "prom_2");
});

test("queue names group per target in the outbox and its admin: a target's shards, never a target sharing its prefix", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-names-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "o.db");
  const ob = Outbox.open(path, { maintenanceIntervalMs: 0, group: queueTarget });
  const batch = (samples: number) => ({ payload: new Uint8Array(10), samples });
  const queues = ["p_x", queueName("p_x", 1, 2), "p_x_2", queueName("p_xy", 0, 2)];
  queues.forEach((queue, i) => ob.appendQueues(queueTarget(queue), [{ queue, batches: [batch(i + 1), batch(10 * (i + 1))] }], 1000 + i));
  assert.deepEqual(ob.depth("p_x"), { rows: 4, bytes: 40, samples: 33, oldestMs: 1000 });
  assert.deepEqual(ob.queues("p_x"), ["p_x", "p_x#1/2"]);
  for (const queue of queues) ob.deadLetter(ob.oldest(queue)!, "400", "bad");
  assert.deepEqual(ob.deadLetterDepth("p_x"), { rows: 2, samples: 3, bytes: 20 });
  assert.equal(ob.deadLetterDepth("p_xy").rows, 1);
  ob.close();
  const admin = OutboxAdmin.open(path, { group: queueTarget });
  t.after(() => admin.close());
  assert.deepEqual(admin.status().queues.map((q) => [q.target, q.samples]), [["p_x", 30], ["p_x_2", 30], ["p_xy", 40]]);
  assert.deepEqual(admin.deadLetters({ target: "p_x" }).map((d) => [d.target, d.queue]), [["p_x", "p_x"], ["p_x", "p_x#1/2"]]);
  assert.deepEqual(admin.requeue({ target: "p_x" }), { rows: 2, samples: 3 });
  assert.deepEqual(admin.purge({ target: "p_x", pending: true }), { rows: 4, samples: 33 });
  assert.deepEqual(admin.status().queues.map((q) => q.target), ["p_x_2", "p_xy"]);
  assert.deepEqual(admin.status().deadLetters.map((d) => d.target), ["p_x_2", "p_xy"]);
});
