import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LimitsStage } from "../../gateway/pipeline/limits.js";
import { limitsSchema } from "../../gateway/config/schema-limits.js";
import type { Sample } from "../../gateway/prom/sample.js";

const s = (vin: string, extra: Record<string, string> = {}): Sample => ({ labels: { __name__: "m", vin, ...extra }, value: 1, timestamp: 0 });
const vins = (out: Sample[]) => out.map((x) => x.labels["vin"]);

function stage(cfg: Record<string, unknown>) {
  const drops: [string, number][] = [];
  return { drops, stage: new LimitsStage(limitsSchema.parse(cfg), (r, n) => drops.push([r, n])) };
}

describe("LimitsStage", () => {
  it("admits up to max_series series; known series keep flowing; newcomers are dropped and counted", () => {
    const { stage: l, drops } = stage({ max_series: 2 });
    assert.deepEqual(vins(l.process([s("a"), s("b"), s("c"), s("a")], 0)), ["a", "b", "a"]);
    assert.deepEqual(vins(l.process([s("c"), s("b")], 1000)), ["b"]);
    assert.deepEqual(drops, [["series_limit", 1], ["series_limit", 1]]);
    assert.equal(l.activeSeries(), 2);
  });

  it("a series not seen for series_ttl frees its slot (the limit is not permanent)", () => {
    const { stage: l } = stage({ max_series: 1, series_ttl: "1m" });
    assert.deepEqual(vins(l.process([s("a")], 0)), ["a"]);
    assert.deepEqual(vins(l.process([s("b")], 59_999)), []);
    assert.deepEqual(vins(l.process([s("a")], 30_000)), ["a"]); // refreshes a
    assert.deepEqual(vins(l.process([s("b")], 89_999)), []);
    assert.deepEqual(vins(l.process([s("b")], 90_000)), ["b"]);
    l.flush(1_000_000);
    assert.equal(l.activeSeries(), 0);
  });

  it("max_label_value_length drops samples with a longer value", () => {
    const { stage: l, drops } = stage({ max_label_value_length: 3 });
    assert.deepEqual(vins(l.process([s("abc"), s("abcd"), s("a", { x: "long!" })], 0)), ["abc"]);
    assert.deepEqual(drops, [["label_value_too_long", 2]]);
  });

  it("is disabled by default and then passes the batch through", () => {
    const { stage: l } = stage({});
    assert.equal(l.disabled, true);
    const batch = [s("a"), s("b")];
    assert.equal(l.process(batch, 0), batch);
  });
});
