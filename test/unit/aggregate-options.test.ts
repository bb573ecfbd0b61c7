import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { AggregationRuleInput } from "../../gateway/config/schema-pipeline.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";
import { ConfigError, parseConfig } from "../../gateway/config/load.js";
import { formatSamples, sample } from "../helpers/samples.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/** Rule options: dedup_interval, staleness_interval, flush_on_shutdown, naming, output_relabel_configs, lateness. */

const s = sample;

const fmt = formatSamples;

function harness(rules: AggregationRuleInput[]) {
  const drops: Array<[string, number]> = [];
  const stage = new AggregateStage({ rules: parseRules(rules), forwardUnmatched: false, onDrop: (reason, n) => drops.push([reason, n]) });
  return { stage, drops };
}

describe("aggregate: dedup_interval", () => {
  // dedup 5s in a 10s window: per series and aligned 5s bucket, the latest sample (equal timestamps: the larger value).
  // V1: [0, 5s) → (4000, max(2, 7)) = 7; [5s, 10s) → (9000, 4). Delivered out of order.
  const data = [
    s("m", { vin: "V1" }, 4, 9_000),
    s("m", { vin: "V1" }, 3, 6_000),
    s("m", { vin: "V1" }, 1, 1_000),
    s("m", { vin: "V1" }, 7, 4_000),
    s("m", { vin: "V1" }, 2, 4_000),
    s("m", { vin: "V2" }, 10, 2_000), // another series: its own buckets
    s("m", { vin: "V2" }, 11, 3_000),
  ];
  it("keeps one sample per series and dedup bucket", () => {
    const { stage } = harness([{ match: "m", interval: "10s", without: ["vin"], dedup_interval: "5s", outputs: ["count_samples", "sum_samples"] }]);
    stage.process(data, 0);
    assert.deepEqual(fmt(stage.flush(0, true)), ["m:10s_without_vin_count_samples{} 3 @10000", "m:10s_without_vin_sum_samples{} 22 @10000"]); // 7 + 4 + 11
  });
  it("in order, too (the in-place replacement path)", () => {
    const { stage } = harness([{ match: "m", interval: "10s", without: ["vin"], dedup_interval: "5s", outputs: ["sum_samples"] }]);
    stage.process([...data].sort((a, b) => a.timestamp - b.timestamp), 0);
    assert.deepEqual(fmt(stage.flush(0, true)), ["m:10s_without_vin_sum_samples{} 22 @10000"]);
  });
  it("must divide the interval (config error naming the key)", () => {
    assert.throws(() => harness([{ match: "m", interval: "10s", dedup_interval: "3s", outputs: ["avg"] }]), /aggregation\[0\]\.dedup_interval/);
  });
});

describe("aggregate: staleness_interval and stale markers", () => {
  it("an output series that stopped gets one stale marker at last + staleness_interval, the others none", () => {
    // interval 10s, lateness 5s, staleness 20s (default 2 × interval). Group a: one window; group b: keeps going.
    const { stage } = harness([{ match: "m", interval: "10s", by: ["fleet"], outputs: ["count_samples"] }]);
    stage.process([s("m", { fleet: "a" }, 1, 1_000), s("m", { fleet: "b" }, 1, 1_000)], 0);
    assert.deepEqual(fmt(stage.flush(15_000, false)), ['m:10s_by_fleet_count_samples{fleet="a"} 1 @10000', 'm:10s_by_fleet_count_samples{fleet="b"} 1 @10000']);
    stage.process([s("m", { fleet: "b" }, 1, 11_000)], 15_000);
    stage.process([s("m", { fleet: "b" }, 1, 21_000)], 25_000);
    assert.deepEqual(fmt(stage.flush(25_000, false)), ['m:10s_by_fleet_count_samples{fleet="b"} 1 @20000']);
    // frontier = now - lateness = 29_999: a's last sample (10_000) + 20_000 > frontier: not yet
    assert.deepEqual(fmt(stage.flush(34_999, false)), []);
    const out = stage.flush(35_000, false);
    assert.deepEqual(fmt(out), ['m:10s_by_fleet_count_samples{fleet="a"} STALE @30000', 'm:10s_by_fleet_count_samples{fleet="b"} 1 @30000']);
    assert.ok(isStaleNaN(out.find((x) => x.labels["fleet"] === "a")!.value), "bit pattern 0x7ff0000000000002");
    assert.deepEqual(fmt(stage.flush(36_000, false)), []); // once
    assert.equal(stage.staleMarkers, 1);
  });

  it("a series that comes back after its marker restarts later than the marker (strictly increasing timestamps)", () => {
    const { stage } = harness([{ match: "m", interval: "10s", without: ["vin"], outputs: ["total"], staleness_interval: "20s" }]);
    stage.process([s("m", { vin: "V1" }, 10, 1_000)], 0);
    assert.deepEqual(fmt(stage.flush(15_000, false)), ["m:10s_without_vin_total{} 10 @10000"]);
    assert.deepEqual(fmt(stage.flush(35_000, false)), ["m:10s_without_vin_total{} STALE @30000"]);
    // The counter's state was dropped with the series: V1 is new again and counts from 0 (total = 12, not 10 + 2).
    stage.process([s("m", { vin: "V1" }, 12, 31_000)], 35_000);
    assert.deepEqual(fmt(stage.flush(45_000, false)), ["m:10s_without_vin_total{} 12 @40000"]);
  });

  it("no markers at shutdown: the series go on after a restart", () => {
    const { stage } = harness([{ match: "m", interval: "10s", outputs: ["count_samples"] }]);
    stage.process([s("m", {}, 1, 1_000)], 0);
    assert.deepEqual(fmt(stage.flush(1e12, true)), ["m:10s_count_samples{} 1 @10000"]);
  });

  it("must be at least the interval", () => {
    assert.throws(() => harness([{ match: "m", interval: "10s", staleness_interval: "5s", outputs: ["avg"] }]), /staleness_interval/);
  });
});

describe("aggregate: flush_on_shutdown", () => {
  it("true (default): open windows are emitted at shutdown", () => {
    const { stage, drops } = harness([{ match: "m", interval: "10s", outputs: ["count_samples"] }]);
    stage.process([s("m", {}, 1, 1_000), s("m", {}, 1, 2_000)], 0);
    assert.deepEqual(fmt(stage.flush(3_000, true)), ["m:10s_count_samples{} 2 @10000"]);
    assert.deepEqual(drops, []);
  });
  it("false: open windows are dropped and their samples counted; the window stays closed", () => {
    const { stage, drops } = harness([
      { match: "m", interval: "10s", outputs: ["count_samples"], flush_on_shutdown: false },
      { match: "m", interval: "10s", outputs: ["sum_samples"] }, // another rule on the same samples still flushes
    ]);
    stage.process([s("m", {}, 1, 1_000), s("m", {}, 1, 2_000), s("m", {}, 1, 12_000)], 0);
    assert.deepEqual(fmt(stage.flush(3_000, true)), ["m:10s_sum_samples{} 1 @20000", "m:10s_sum_samples{} 2 @10000"]);
    assert.deepEqual(drops, [["shutdown_unflushed", 3]]);
    stage.process([s("m", {}, 1, 3_000)], 3_000);
    assert.deepEqual(drops, [["shutdown_unflushed", 3], ["too_late", 2]]); // once per rule
  });
});

describe("aggregate: output names", () => {
  const data = [s("a", { fleet: "x", vin: "1" }, 1, 1_000), s("b", { fleet: "x", vin: "2" }, 2, 1_000)];
  it("output_name: one exactly named series; every matched metric aggregated together", () => {
    const { stage } = harness([{ match: '{__name__=~"a|b"}', interval: "10s", by: ["fleet"], outputs: ["sum_samples"], output_name: "combined" }]);
    stage.process(data, 0);
    assert.deepEqual(fmt(stage.flush(0, true)), ['combined{fleet="x"} 3 @10000']);
  });
  it("keep_metric_names: the input metric's name", () => {
    const { stage } = harness([{ match: '{__name__=~"a|b"}', interval: "10s", by: ["fleet"], outputs: ["sum_samples"], keep_metric_names: true }]);
    stage.process(data, 0);
    assert.deepEqual(fmt(stage.flush(0, true)), ['a{fleet="x"} 1 @10000', 'b{fleet="x"} 2 @10000']);
  });
  it("output_relabel_configs: relabel or drop output series (drops counted)", () => {
    const { stage, drops } = harness([
      {
        match: '{__name__=~"a|b"}',
        interval: "10s",
        by: ["fleet"],
        outputs: ["sum_samples"],
        output_relabel_configs: [
          { source_labels: ["__name__"], regex: "b:.*", action: "drop" },
          { source_labels: ["fleet"], target_label: "site", replacement: "site-$1" },
        ],
      },
    ]);
    stage.process(data, 0);
    assert.deepEqual(fmt(stage.flush(0, true)), ['a:10s_by_fleet_sum_samples{fleet="x",site="site-x"} 1 @10000']);
    assert.deepEqual(drops, [["output_relabel_drop", 1]]);
  });
  it("need exactly one output (config errors name the key)", () => {
    const base = `topics: [{topic: "a/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9090/api/v1/write"}]\n`;
    const problems = (rule: string) => {
      try {
        parseConfig(base + `aggregation: [${rule}]\n`, "t.yaml");
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems.join("\n");
      }
      return "";
    };
    assert.match(problems(`{match: m, interval: 10s, outputs: [avg, max], output_name: x}`), /aggregation\[0\]\.output_name: needs exactly one output/);
    assert.match(problems(`{match: m, interval: 10s, outputs: [avg, max], keep_metric_names: true}`), /aggregation\[0\]\.keep_metric_names/);
    assert.match(problems(`{match: m, interval: 10s, outputs: [avg], output_name: "1x"}`), /aggregation\[0\]\.output_name: must be a valid metric name/);
    assert.match(problems(`{match: m, interval: 10s, outputs: ["quantiles(2)"]}`), /aggregation\[0\]\.outputs\[0\]: quantiles: phi/);
    assert.equal(problems(`{match: m, interval: 10s, outputs: ["quantiles(0.5, 0.9, 0.99)", "count_distinct(vin)"], dedup_interval: 5s, staleness_interval: 1m}`), "");
  });
});

describe("aggregate: allowed_lateness and flushed windows", () => {
  it("a late sample within lateness goes to its own window even when a later window is open", () => {
    const { stage, drops } = harness([{ match: "m", interval: "10s", allowed_lateness: "10s", outputs: ["count_samples"] }]);
    stage.process([s("m", {}, 1, 12_000)], 13_000); // window [10s, 20s)
    stage.process([s("m", {}, 1, 9_000)], 19_000); // window [0, 10s) is open until 20s (wall clock)
    assert.deepEqual(fmt(stage.flush(20_000, false)), ["m:10s_count_samples{} 1 @10000"]);
    stage.process([s("m", {}, 1, 9_500)], 20_000); // flushed: never reopened, never merged into [10s, 20s)
    assert.deepEqual(drops, [["too_late", 1]]);
    assert.deepEqual(fmt(stage.flush(30_000, false)), ["m:10s_count_samples{} 1 @20000"]);
  });
});
