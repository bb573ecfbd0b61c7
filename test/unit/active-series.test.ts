import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ActiveSeries } from "../../gateway/pipeline/active-series.js";
import { LimitsStage } from "../../gateway/pipeline/limits.js";
import { limitsSchema } from "../../gateway/config/schema-limits.js";

/** Adds `labels` when new; returns whether it was known. */
function see(set: ActiveSeries, labels: Record<string, string>, now: number): boolean {
  if (set.touch(labels, now, 1000)) return true;
  set.add(labels, now);
  return false;
}

describe("ActiveSeries (the cardinality limiter's set)", () => {
  it("knows a series by its label set: another object with the same labels, in any order, is the same series", () => {
    const set = new ActiveSeries();
    assert.equal(see(set, { __name__: "m", vin: "a", fleet: "x" }, 0), false);
    assert.equal(see(set, { fleet: "x", vin: "a", __name__: "m" }, 0), true);
    assert.equal(see(set, { __name__: "m", vin: "a", fleet: "x", model: "" }, 0), true, "an empty value is an absent label");
    assert.equal(see(set, { __name__: "m", vin: "a", fleet: "y" }, 0), false);
    assert.equal(see(set, { __name__: "m", vin: "a" }, 0), false);
    assert.equal(set.size, 3);
  });

  it("tells apart series whose pair hashes collide (chained, verified by comparing labels)", () => {
    // Many series: with 32-bit sums some hash buckets hold several; every one must stay distinct.
    const set = new ActiveSeries();
    for (let i = 0; i < 50_000; i++) assert.equal(see(set, { __name__: "m", vin: `v${i}`, fleet: `f${i % 7}` }, 0), false);
    for (let i = 0; i < 50_000; i++) assert.equal(see(set, { fleet: `f${i % 7}`, vin: `v${i}`, __name__: "m" }, 0), true);
    assert.equal(set.size, 50_000);
  });

  it("expires the series least recently seen first; a refresh moves a series to the back", () => {
    const set = new ActiveSeries();
    see(set, { __name__: "a" }, 0);
    see(set, { __name__: "b" }, 500);
    see(set, { __name__: "c" }, 1000);
    assert.equal(see(set, { __name__: "a" }, 2000), true); // refreshed: now the newest
    set.expire(1000);
    assert.equal(set.size, 1);
    assert.equal(set.touch({ __name__: "b" }, 2000, 1000), false);
    assert.equal(set.touch({ __name__: "a" }, 2000, 1000), true);
    set.expire(2000);
    assert.equal(set.size, 0);
  });

  it("the limiter counts one series once whatever the order of its labels", () => {
    const drops: number[] = [];
    const l = new LimitsStage(limitsSchema.parse({ max_series: 1 }), (_r, n) => drops.push(n));
    const out = l.process(
      [
        { labels: { __name__: "m", vin: "a" }, value: 1, timestamp: 0 },
        { labels: { vin: "a", __name__: "m" }, value: 2, timestamp: 1 },
        { labels: { __name__: "m", vin: "b" }, value: 3, timestamp: 2 },
      ],
      0,
    );
    assert.deepEqual(out.map((s) => s.value), [1, 2]);
    assert.deepEqual(drops, [1]);
  });

  it("with max_series and max_label_value_length both set, a too-long value is dropped as such and takes no slot", () => {
    const drops: [string, number][] = [];
    const l = new LimitsStage(limitsSchema.parse({ max_series: 1, max_label_value_length: 3 }), (r, n) => drops.push([r, n]));
    const s = (vin: string, value: number) => ({ labels: { __name__: "m", vin }, value, timestamp: 0 });
    assert.deepEqual(l.process([s("long", 1), s("abc", 2), s("abc", 3), s("xyz", 4), s("long", 5)], 0).map((x) => x.value), [2, 3]);
    assert.deepEqual(drops, [["label_value_too_long", 2], ["series_limit", 1]]);
    assert.equal(l.activeSeries(), 1);
  });
});
