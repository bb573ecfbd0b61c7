import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { Json } from "../../gateway/pipeline/aggregate/output.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/**
 * The compact aggregation state (issue #12, cardinality): window membership
 * kept on the interned series, count_series a counter of series new to a
 * window, and flushed windows releasing their series over the following
 * calls instead of all at the flush.
 */

function stage(drops: string[] = [], allowedLateness = "5s"): AggregateStage {
  return new AggregateStage({
    rules: parseRules([{ match: "m", interval: "10s", allowed_lateness: allowedLateness, by: ["fleet"], outputs: ["count_series", "count_samples"] }]),
    forwardUnmatched: false,
    onDrop: (r, n = 1) => {
      for (let i = 0; i < n; i++) drops.push(r);
    },
  });
}

const sample = (vin: number, ts: number): Sample => ({ labels: { __name__: "m", vin: `V${vin}`, fleet: `f${vin % 2}` }, value: vin, timestamp: ts });

/** `name{fleet} value @ts` lines, sorted, stale markers and all. */
function lines(out: Sample[]): string[] {
  return out.map((s) => `${s.labels["__name__"]}{${s.labels["fleet"]}} ${s.value} @${s.timestamp}`).sort();
}

describe("aggregate: compact state at high cardinality", () => {
  it("a flushed window's series are released over the following calls; series still in an open window stay, duplicates stay caught", () => {
    const drops: string[] = [];
    const st = stage(drops);
    const n = 20_000;
    for (let i = 0; i < n; i += 500) st.process(Array.from({ length: 500 }, (_, k) => sample(i + k, 1_000)), 1_000);
    // The next window: the upper half of the series again, and as many new ones.
    for (let i = n / 2; i < n + n / 2; i += 500) st.process(Array.from({ length: 500 }, (_, k) => sample(i + k, 11_000)), 11_000);
    assert.equal(st.stats().seriesActive, n + n / 2);

    const out = st.flush(15_001, false);
    assert.deepEqual(lines(out), ["m:10s_by_fleet_count_samples{f0} 10000 @10000", "m:10s_by_fleet_count_samples{f1} 10000 @10000", "m:10s_by_fleet_count_series{f0} 10000 @10000", "m:10s_by_fleet_count_series{f1} 10000 @10000"]);
    // The tick releases within its time budget, ingest batches a bounded share each (4 per sample, at
    // least 1,024): the count reaches exactly the open window's series, which keep their state.
    let calls = 0;
    while (st.stats().seriesActive > n && calls < 100) {
      st.process([sample(n / 2, 11_000)], 15_001); // a duplicate of a sample the open window holds
      calls++;
    }
    assert.equal(st.stats().seriesActive, n);
    assert.ok(calls <= 10, `${calls} calls to release ${n / 2} series`);
    st.process([sample(n / 2, 11_000)], 15_001);
    assert.equal(drops.filter((d) => d === "duplicate").length, calls + 1);

    const out2 = st.flush(25_001, false);
    assert.deepEqual(lines(out2), ["m:10s_by_fleet_count_samples{f0} 10000 @20000", "m:10s_by_fleet_count_samples{f1} 10000 @20000", "m:10s_by_fleet_count_series{f0} 10000 @20000", "m:10s_by_fleet_count_series{f1} 10000 @20000"]);
    // Ticks release the rest too, without ingest (each within its time budget: a few under load).
    for (let t = 0; t < 50 && st.stats().seriesActive > 0; t++) st.flush(25_002 + t, false);
    assert.equal(st.stats().seriesActive, 0);
  });

  it("a series in more open windows than it keeps inline counts once per window, its duplicates are caught in each", () => {
    const drops: string[] = [];
    const st = stage(drops, "1m"); // five windows open at once
    for (let round = 0; round < 2; round++) {
      for (let w = 0; w < 5; w++) st.process([sample(1, w * 10_000 + 1_000), sample(2, w * 10_000 + 2_000), sample(1, w * 10_000 + 3_000)], 45_000);
    }
    assert.equal(drops.length, 15); // the second round repeats every (series, timestamp)
    assert.ok(drops.every((d) => d === "duplicate"));
    const out = st.flush(200_000, true);
    const series = lines(out).filter((l) => l.includes("count_series"));
    assert.deepEqual(series, [0, 1, 2, 3, 4].flatMap((w) => [`m:10s_by_fleet_count_series{f0} 1 @${w * 10_000 + 10_000}`, `m:10s_by_fleet_count_series{f1} 1 @${w * 10_000 + 10_000}`]).sort());
    const samples = lines(out).filter((l) => l.includes("count_samples"));
    assert.deepEqual(samples, [0, 1, 2, 3, 4].flatMap((w) => [`m:10s_by_fleet_count_samples{f0} 1 @${w * 10_000 + 10_000}`, `m:10s_by_fleet_count_samples{f1} 2 @${w * 10_000 + 10_000}`]).sort());
    assert.equal(st.stats().seriesActive, 0);
  });

  it("after a restore, a series the checkpoint holds is not counted again, a new one is, and a replayed sample is a duplicate", () => {
    const drops: string[] = [];
    const a = stage();
    a.process([sample(1, 1_000), sample(3, 2_000)], 2_000);
    const saved = JSON.parse(JSON.stringify(a.snapshot())) as Json;
    // count_series no longer writes every input series' labels into the checkpoint.
    assert.ok(!JSON.stringify(saved).includes('"V1"'), "labels of input series in the checkpoint");

    const b = stage(drops);
    b.restore(saved);
    b.process([sample(1, 1_000), sample(1, 4_000), sample(5, 4_000)], 4_000);
    assert.deepEqual(drops, ["duplicate"]);
    assert.deepEqual(lines(b.flush(15_001, false)), ["m:10s_by_fleet_count_samples{f1} 4 @10000", "m:10s_by_fleet_count_series{f1} 3 @10000"]);
  });

  it("reads count_series state of earlier checkpoints (a list of series indexes)", () => {
    const a = stage();
    a.process([sample(1, 1_000), sample(3, 2_000)], 2_000);
    const saved = JSON.parse(JSON.stringify(a.snapshot())) as { rules: { windows: { groups: [string, string, Json, number[], Json][] }[] }[] };
    const group = saved.rules[0]!.windows[0]!.groups[0]!;
    group[3] = [[0, 1] as unknown as number, group[3][1]!]; // count_series as the old format wrote it: two series
    const b = stage();
    b.restore(saved as unknown as Json);
    assert.deepEqual(lines(b.flush(15_001, false)), ["m:10s_by_fleet_count_samples{f1} 2 @10000", "m:10s_by_fleet_count_series{f1} 2 @10000"]);
  });

  it("window timestamps round-trip packed, as JSON rows (fractional milliseconds), and from the rows earlier checkpoints wrote", () => {
    type Saved = { rules: { windows: Record<string, Json>[] }[] };
    for (const ts of [1_000, 1_000.5]) {
      const a = stage();
      a.process([sample(1, ts), sample(1, ts + 2_000), sample(3, ts)], 4_000);
      const saved = JSON.parse(JSON.stringify(a.snapshot())) as Saved;
      const win = saved.rules[0]!.windows[0]!;
      assert.equal(win["stampIds"] !== undefined, ts === 1_000, "packed only for whole milliseconds");
      const variants: Saved[] = [saved];
      if (win["stampIds"] !== undefined) {
        // The same state in the row format of earlier versions, decoded by hand from the packed one.
        const ids = new Float64Array(new Uint8Array(Buffer.from(win["stampIds"] as string, "base64")).buffer);
        const offs = new Int32Array(new Uint8Array(Buffer.from(win["stampOffsets"] as string, "base64")).buffer);
        const rows: Json[] = [];
        let k = 0;
        for (const id of ids) {
          const n = offs[k++]!;
          rows.push([id, Array.from(offs.subarray(k, k + n), (o) => o + 0)]);
          k += n;
        }
        assert.deepEqual(rows.map((r) => (r as [number, number[]])[1]), [[1_000, 3_000], [1_000]]); // offsets from the window start (0)
        const old = structuredClone(saved);
        const w = old.rules[0]!.windows[0]!;
        delete w["stampIds"];
        delete w["stampOffsets"];
        w["stamps"] = rows;
        variants.push(old);
      }
      for (const v of variants) {
        const drops: string[] = [];
        const b = stage(drops);
        b.restore(v as unknown as Json);
        b.process([sample(1, ts), sample(1, ts + 2_000), sample(3, ts), sample(1, ts + 1_000)], 4_000);
        assert.deepEqual(drops, ["duplicate", "duplicate", "duplicate"]);
        assert.deepEqual(lines(b.flush(15_001, false)), ["m:10s_by_fleet_count_samples{f1} 4 @10000", "m:10s_by_fleet_count_series{f1} 2 @10000"]);
      }
    }
  });
});
