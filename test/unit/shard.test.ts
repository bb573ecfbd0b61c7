import assert from "node:assert/strict";
import { test } from "node:test";
import { queueName, queueNames, queueTarget, targetCondition } from "../../gateway/outbox/queues.js";
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
  assert.deepEqual(targetCondition("p_x").args, ["p_x", "p_x#", "p_x#"]);
});
