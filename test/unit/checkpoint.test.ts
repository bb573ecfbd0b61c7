import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { AggregationRuleInput } from "../../gateway/config/schema-pipeline.js";
import type { Json } from "../../gateway/pipeline/aggregate/output.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/**
 * Checkpoints: a run interrupted at any point — snapshot, JSON round trip,
 * restore into a NEW stage, continue — emits exactly what an uninterrupted
 * run emits (same series, values, timestamps), for every output kind, with
 * and without de-duplication, including stale markers.
 */

const RULES: AggregationRuleInput[] = [
  {
    match: "m",
    interval: "10s",
    allowed_lateness: "5s",
    by: ["fleet"],
    outputs: ["count_samples", "sum_samples", "avg", "min", "max", "last", "count_series", "stddev", "unique_samples", "quantiles(0.5, 0.9)", "histogram_bucket", "count_distinct(vin)", "count_distinct_nonzero(vin)", "sum_first_by(vin)"],
  },
  { match: "m", interval: "10s", allowed_lateness: "5s", by: ["fleet"], outputs: ["total", "increase", "rate_sum", "rate_avg", "total_prometheus"] },
  { match: "m", interval: "5s", allowed_lateness: "3s", dedup_interval: "1s", outputs: ["increase"], output_name: "deduped" },
  { match: "m", interval: "5s", allowed_lateness: "3s", dedup_interval: "1s", without: ["vin"], outputs: ["sum_samples", "count_samples"] },
];

const fmtOut = (x: Sample) => `${JSON.stringify(x.labels)} ${isStaleNaN(x.value) ? "STALE" : x.value} @${x.timestamp}`;

const stepArb = fc.record({
  samples: fc.array(
    fc.record({
      vin: fc.constantFrom("V1", "V2", "V3"),
      fleet: fc.constantFrom("a", "b"),
      value: fc.integer({ min: 0, max: 50 }),
      timestamp: fc.integer({ min: 0, max: 60_000 }),
    }),
    { maxLength: 15 },
  ),
  advance: fc.integer({ min: 0, max: 9_000 }),
  flush: fc.boolean(),
});

function newStage(): AggregateStage {
  return new AggregateStage({ rules: parseRules(RULES), forwardUnmatched: false, onDrop: () => undefined });
}

describe("checkpoint: snapshot and restore", () => {
  it("an interrupted run emits exactly what an uninterrupted one does", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.nat(), (steps, cutAt) => {
        const cut = cutAt % steps.length;
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
          if (step.flush) {
            a.push(...whole.flush(now, false).map(fmtOut));
            b.push(...part.flush(now, false).map(fmtOut));
          }
          if (i === cut) {
            const saved = JSON.parse(JSON.stringify(part.snapshot())) as Json;
            part = newStage();
            const report = part.restore(saved);
            assert.deepEqual(report.discarded, []);
          }
        });
        a.push(...whole.flush(now + 100_000, false).map(fmtOut));
        b.push(...part.flush(now + 100_000, false).map(fmtOut));
        assert.deepEqual(b, a);
        assert.equal(part.stats().windowsOpen, whole.stats().windowsOpen);
      }),
      { numRuns: 150 },
    );
  });

  it("a restored stage does not emit windows flushed before the snapshot, and keeps them closed", () => {
    const drops: string[] = [];
    const stage = new AggregateStage({ rules: parseRules([RULES[1]!]), forwardUnmatched: false, onDrop: (r) => drops.push(r) });
    stage.process([{ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: 5, timestamp: 1_000 }], 0);
    assert.equal(stage.flush(15_000, false).length, 3); // total, increase, total_prometheus (rate_*: one sample, no rate)
    const restored = new AggregateStage({ rules: parseRules([RULES[1]!]), forwardUnmatched: false, onDrop: (r) => drops.push(r) });
    restored.restore(JSON.parse(JSON.stringify(stage.snapshot())) as Json);
    // wall clock says the window is still within lateness (14s < 15s), the watermark says it was flushed
    restored.process([{ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: 7, timestamp: 2_000 }], 14_000);
    assert.deepEqual(drops, ["too_late"]);
    assert.deepEqual(restored.flush(15_000, true), []);
  });

  it("a rule whose config changed starts empty; unchanged rules keep their state; garbage is reported, not thrown", () => {
    const stage = new AggregateStage({ rules: parseRules([RULES[0]!, RULES[1]!]), forwardUnmatched: false, onDrop: () => undefined });
    stage.process([{ labels: { __name__: "m", vin: "V1", fleet: "a" }, value: 5, timestamp: 1_000 }], 0);
    const saved = JSON.parse(JSON.stringify(stage.snapshot())) as Json;
    const changed = new AggregateStage({ rules: parseRules([{ ...RULES[1]!, interval: "20s", dedup_interval: undefined }, RULES[1]!]), forwardUnmatched: false, onDrop: () => undefined });
    const report = changed.restore(saved);
    assert.equal(report.rules, 1);
    assert.equal(report.windows, 1);
    assert.match(report.discarded[0]!, /aggregation\[0\]: no saved state/);
    assert.deepEqual(new AggregateStage({ rules: parseRules(RULES), forwardUnmatched: false, onDrop: () => undefined }).restore({ v: 99 }).discarded, [
      "checkpoint not restored: snapshot version 99, expected 1",
    ]);
  });
});
