import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { AggregationRuleInput } from "../../gateway/config/schema-pipeline.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { bucketOf, vmrange } from "../../gateway/pipeline/aggregate/vmrange.js";
import { formatPhi } from "../../gateway/pipeline/aggregate/quantiles.js";
import { createOutput } from "../../gateway/pipeline/aggregate/outputs.js";
import { formatSamples, sample } from "../helpers/samples.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/** vmagent's outputs (and edgegate's distinct counts) on hand-computed data sets. */

const s = sample;

const fmt = formatSamples;

/** Runs the samples through one rule (interval 10s) and returns the final flush. */
function run(outputs: string[], samples: Sample[], extra: Partial<AggregationRuleInput> = {}): string[] {
  const stage = new AggregateStage({
    rules: parseRules([{ match: '{__name__=~".+"}', interval: "10s", by: ["fleet"], outputs, ...extra }]),
    forwardUnmatched: false,
    onDrop: () => assert.fail("nothing should be dropped"),
  });
  stage.process(samples, 0);
  return fmt(stage.flush(0, true));
}

// Counters. Window [0, 10s): V1 10 → 15 → 3 (reset) → 5, V2 100 → 130. Window [10s, 20s): V1 8, V2 90 (reset).
// Delivered out of timestamp order on purpose: the rule replays each series sorted.
const counters = [
  s("c", { fleet: "a", vin: "V1" }, 3, 7_000),
  s("c", { fleet: "a", vin: "V2" }, 100, 2_000),
  s("c", { fleet: "a", vin: "V1" }, 10, 1_000),
  s("c", { fleet: "a", vin: "V1" }, 5, 9_000),
  s("c", { fleet: "a", vin: "V1" }, 15, 4_000),
  s("c", { fleet: "a", vin: "V2" }, 130, 8_000),
  s("c", { fleet: "a", vin: "V2" }, 90, 15_000),
  s("c", { fleet: "a", vin: "V1" }, 8, 12_000),
];

describe("aggregate outputs: counters (total, increase, rate_*)", () => {
  const cases: Array<[string, string[]]> = [
    // total: V1 10 (first sample counted from 0) + 5 + 3 (reset: the value itself) + 2 = 20; V2 100 + 30 = 130 → 150.
    // Next window: V1 +3 (5 → 8), V2 +90 (reset) → 150 + 93 = 243.
    ["total", ['c:10s_by_fleet_total{fleet="a"} 150 @10000', 'c:10s_by_fleet_total{fleet="a"} 243 @20000']],
    // total_prometheus: first samples only set the start: V1 5 + 3 + 2 = 10, V2 30 → 40; then + 93 = 133.
    ["total_prometheus", ['c:10s_by_fleet_total_prometheus{fleet="a"} 133 @20000', 'c:10s_by_fleet_total_prometheus{fleet="a"} 40 @10000']],
    // increase: the same, per window.
    ["increase", ['c:10s_by_fleet_increase{fleet="a"} 150 @10000', 'c:10s_by_fleet_increase{fleet="a"} 93 @20000']],
    ["increase_prometheus", ['c:10s_by_fleet_increase_prometheus{fleet="a"} 40 @10000', 'c:10s_by_fleet_increase_prometheus{fleet="a"} 93 @20000']],
    // rate: window 1: V1 (5+3+2) / (9s-1s) = 1.25/s, V2 30 / (8s-2s) = 5/s. Window 2: V1 3 / (12s-9s) = 1/s, V2 90 / (15s-8s).
    ["rate_sum", ['c:10s_by_fleet_rate_sum{fleet="a"} 6.25 @10000', `c:10s_by_fleet_rate_sum{fleet="a"} ${1 + 90 / 7} @20000`]],
    ["rate_avg", ['c:10s_by_fleet_rate_avg{fleet="a"} 3.125 @10000', `c:10s_by_fleet_rate_avg{fleet="a"} ${(1 + 90 / 7) / 2} @20000`]],
  ];
  for (const [output, want] of cases) it(output, () => assert.deepEqual(run([output], counters), [...want].sort()));

  it("rate: a group whose series all have one sample and no history emits nothing", () => {
    assert.deepEqual(run(["rate_sum"], [s("c", { fleet: "a", vin: "V1" }, 5, 1_000)]), []);
  });

  it("total keeps its running sum across flush calls (per-series state lives in the rule)", () => {
    const stage = new AggregateStage({
      rules: parseRules([{ match: "c", interval: "10s", by: ["fleet"], outputs: ["total"] }]),
      forwardUnmatched: false,
      onDrop: () => undefined,
    });
    stage.process([s("c", { fleet: "a", vin: "V1" }, 10, 1_000)], 0);
    assert.deepEqual(fmt(stage.flush(15_000, false)), ['c:10s_by_fleet_total{fleet="a"} 10 @10000']);
    stage.process([s("c", { fleet: "a", vin: "V1" }, 14, 11_000)], 15_000);
    assert.deepEqual(fmt(stage.flush(25_000, false)), ['c:10s_by_fleet_total{fleet="a"} 14 @20000']);
  });
});

describe("aggregate outputs: distributions", () => {
  it("stddev / stdvar are the population figures (2, 4, 4, 4, 5, 5, 7, 9: mean 5, variance 4)", () => {
    const data = [2, 4, 4, 4, 5, 5, 7, 9].map((v, i) => s("m", { fleet: "a" }, v, 1_000 + i));
    assert.deepEqual(run(["stddev", "stdvar"], data), ['m:10s_by_fleet_stddev{fleet="a"} 2 @10000', 'm:10s_by_fleet_stdvar{fleet="a"} 4 @10000']);
  });

  it("quantiles(0, 0.5, 0.9, 0.99, 1) of 1..10: sorted[round(phi * 9)], min and max at the ends", () => {
    const data = [7, 3, 10, 1, 9, 2, 8, 5, 6, 4].map((v, i) => s("m", { fleet: "a" }, v, 1_000 + i));
    assert.deepEqual(run(["quantiles(0, 0.5, 0.9, 0.99, 1)"], data), [
      'm:10s_by_fleet_quantiles{fleet="a",quantile="0"} 1 @10000',
      'm:10s_by_fleet_quantiles{fleet="a",quantile="0.5"} 6 @10000', // round(4.5) = 5 → 6
      'm:10s_by_fleet_quantiles{fleet="a",quantile="0.9"} 9 @10000', // round(8.1) = 8 → 9
      'm:10s_by_fleet_quantiles{fleet="a",quantile="0.99"} 10 @10000', // round(8.91) = 9 → 10
      'm:10s_by_fleet_quantiles{fleet="a",quantile="1"} 10 @10000',
    ]);
  });

  it("quantile labels are formatted as Go's strconv 'g' (vmagent)", () => {
    assert.deepEqual([0.5, 0.99, 0, 1, 0.00001].map(formatPhi), ["0.5", "0.99", "0", "1", "1e-05"]);
  });

  it("quantiles: bad arguments are config errors", () => {
    assert.throws(() => createOutput("quantiles()"), /at least one phi/);
    assert.throws(() => createOutput("quantiles(1.5)"), /\[0, 1\]/);
    assert.throws(() => createOutput("quantiles(0.5, 0.5)"), /duplicate/);
  });

  it("histogram_bucket: VictoriaMetrics vmrange buckets, cumulative across windows, negatives ignored", () => {
    // 0 → 0...0; 1 → (0.95, 1]; 1.2 and 1.5 → (1, 1.5]; 3 → (2.5, 3]; 100 → (95, 100]; -1 not counted.
    const data = [0, 1, 1.2, 1.5, 3, 100, -1].map((v, i) => s("m", { fleet: "a" }, v, 1_000 + i));
    data.push(s("m", { fleet: "a" }, 1.2, 12_000)); // next window: (1, 1.5] goes to 3, the others stay
    const n = (r: string, v: number, t: number) => `m:10s_by_fleet_histogram_bucket{fleet="a",vmrange="${r}"} ${v} @${t}`;
    assert.deepEqual(
      run(["histogram_bucket"], data),
      [
        n("0...0", 1, 10000), n("9.5e-1...1.0e0", 1, 10000), n("1.0e0...1.5e0", 2, 10000), n("2.5e0...3.0e0", 1, 10000), n("9.5e1...1.0e2", 1, 10000),
        n("0...0", 1, 20000), n("9.5e-1...1.0e0", 1, 20000), n("1.0e0...1.5e0", 3, 20000), n("2.5e0...3.0e0", 1, 20000), n("9.5e1...1.0e2", 1, 20000),
      ].sort(),
    );
  });

  it("vmrange buckets at the edges of the range", () => {
    const cases: Array<[number, string]> = [
      [1e-10, "0...1.0e-9"],
      [1e-9, "0...1.0e-9"], // on the first bound: the lower bucket (le)
      [1.1e-9, "1.0e-9...1.5e-9"],
      [1e18, "9.5e17...1.0e18"],
      [2e18, "1.0e18...+Inf"],
      [Infinity, "1.0e18...+Inf"],
      [1000, "9.5e2...1.0e3"],
      [9.7, "9.5e0...1.0e1"],
    ];
    for (const [v, want] of cases) assert.equal(vmrange(bucketOf(v)), want, String(v));
    assert.equal(bucketOf(-0.5), -1);
    assert.equal(bucketOf(NaN), -1);
  });

  it("unique_samples counts distinct values (0 and -0 are one)", () => {
    const data = [1, 2, 2, 3, 0, -0].map((v, i) => s("m", { fleet: "a" }, v, 1_000 + i));
    assert.deepEqual(run(["unique_samples"], data), ['m:10s_by_fleet_unique_samples{fleet="a"} 4 @10000']);
  });
});

describe("aggregate outputs: distinct counts (Flink demo)", () => {
  const rpm = [
    s("rpm", { fleet: "a", vin: "V1" }, 0, 1_000),
    s("rpm", { fleet: "a", vin: "V1" }, 1500, 2_000),
    s("rpm", { fleet: "a", vin: "V2" }, 0, 3_000),
    s("rpm", { fleet: "a", vin: "V3" }, -200, 4_000), // ELECTRIC_RPM may be negative: moving
    s("rpm", { fleet: "a" }, 5, 5_000), // no vin: not counted
    s("rpm", { fleet: "b", vin: "V4" }, 0, 5_000), // a group with only stopped vehicles: 0, still emitted
  ];
  it("count_distinct(vin): V1, V2, V3 → 3; group b → 1", () => {
    assert.deepEqual(run(["count_distinct(vin)"], rpm), [
      'rpm:10s_by_fleet_count_distinct{fleet="a"} 3 @10000',
      'rpm:10s_by_fleet_count_distinct{fleet="b"} 1 @10000',
    ]);
  });
  it("count_distinct_nonzero(vin): V1 and V3 moved → 2; group b → 0", () => {
    assert.deepEqual(run(["count_distinct_nonzero(vin)"], rpm), [
      'rpm:10s_by_fleet_count_distinct_nonzero{fleet="a"} 2 @10000',
      'rpm:10s_by_fleet_count_distinct_nonzero{fleet="b"} 0 @10000',
    ]);
  });
  it("sum_first_by(vin): each vehicle's first value by timestamp, summed", () => {
    const warnings = [
      s("w", { fleet: "a", vin: "V1" }, 2, 3_000),
      s("w", { fleet: "a", vin: "V1" }, 4, 1_000), // arrives later, earlier timestamp: V1's first is 4
      s("w", { fleet: "a", vin: "V2" }, 1, 2_000),
      s("w", { fleet: "a", vin: "V2" }, 3, 2_001), // later: V2's first stays 1
      s("w", { fleet: "a", vin: "V3" }, 0, 4_000),
      s("w", { fleet: "a", vin: "V1" }, 5, 12_000), // next window: V1 again, first there
    ];
    assert.deepEqual(run(["sum_first_by(vin)"], warnings), [
      'w:10s_by_fleet_sum_first_by{fleet="a"} 5 @10000', // 4 + 1 + 0
      'w:10s_by_fleet_sum_first_by{fleet="a"} 5 @20000',
    ]);
  });
  it("label arguments are validated", () => {
    assert.throws(() => createOutput("count_distinct()"), /one label name/);
    assert.throws(() => createOutput("sum_first_by(a-b)"), /one label name/);
    assert.throws(() => createOutput("count_series(x)"), /takes no arguments/);
  });
});
