import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SeriesHashes, seriesHashes } from "../../gateway/pipeline/series-hash.js";
import { LimitsStage } from "../../gateway/pipeline/limits.js";
import { limitsSchema } from "../../gateway/config/schema-limits.js";
import { SeriesInterner } from "../../gateway/pipeline/aggregate/series.js";
import type { Labels, Sample } from "../../gateway/prom/sample.js";

const labels = (i: number): Labels => ({ __name__: "speed", vin: `v${i}`, fleet: i % 2 ? "north" : "south" });

describe("series hash hand-over from the limiter to the aggregation", () => {
  it("finds a recorded object by identity only: at its index, then in batch order past gaps; a new batch forgets the old one", () => {
    const h = new SeriesHashes();
    const ls = Array.from({ length: 20 }, (_, i) => labels(i));
    h.begin();
    ls.forEach((l, i) => h.record(l, 1000 + i, 3));
    assert.equal(h.find(labels(0), 0), false, "an equal but different object is not taken");
    assert.ok(h.find(ls[0]!, 0));
    assert.deepEqual([h.hash, h.size], [1000, 3]);
    // The reader's batch lost samples 1 and 2 (dropped by the limiter): sample 3 is the reader's 1.
    assert.ok(h.find(ls[3]!, 1));
    assert.equal(h.hash, 1003);
    assert.ok(h.find(ls[4]!, 2));
    assert.equal(h.hash, 1004);
    h.begin();
    assert.equal(h.find(ls[5]!, 5), false, "records of an earlier batch are not searched");
  });

  it("the interner keys a series the limiter hashed exactly as one it hashes itself", () => {
    const limits = new LimitsStage(limitsSchema.parse({ max_series: 100 }), () => {});
    const interner = new SeriesInterner();
    const batch: Sample[] = Array.from({ length: 10 }, (_, i) => ({ labels: labels(i), value: i, timestamp: 1000 }));
    const out = limits.process(batch, 1000);
    assert.equal(out, batch);
    const refs = out.map((s, i) => interner.intern(s.labels, i));
    // Fresh objects (no hand-over): the same series must be found, so the handed-over hash is the interner's own.
    seriesHashes.begin();
    for (let i = 0; i < 10; i++) {
      const fresh = { ...labels(i) };
      assert.equal(seriesHashes.find(fresh, i), false);
      assert.equal(interner.intern(fresh, i), refs[i], `series ${i}`);
    }
    assert.equal(interner.size, 10);
    // Label order and empty values do not matter either way.
    const reordered: Labels = { fleet: "south", extra: "", vin: "v0", __name__: "speed" };
    limits.process([{ labels: reordered, value: 1, timestamp: 2000 }], 2000);
    assert.equal(interner.intern(reordered, 0), refs[0]);
  });
});
