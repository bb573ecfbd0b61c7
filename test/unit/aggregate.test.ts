import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { AggregationRuleInput as AggregationRuleConfig } from "../../gateway/config/schema-pipeline.js";
import type { Labels, Sample } from "../../gateway/prom/sample.js";
import { sample } from "../helpers/samples.js";
import { parseRules } from "../helpers/aggregation-rules.js";

// ---------------------------------------------------------------- fixtures

function rule(partial: Partial<AggregationRuleConfig> & Pick<AggregationRuleConfig, "match" | "outputs">): AggregationRuleConfig {
  return { interval: "10s", allowed_lateness: "5s", ...partial };
}

const s = sample;

function harness(rules: AggregationRuleConfig[], forwardUnmatched = false) {
  const drops: Array<[string, number]> = [];
  const stage = new AggregateStage({ rules: parseRules(rules), forwardUnmatched, onDrop: (reason, n) => drops.push([reason, n]) });
  return { stage, drops };
}

function seriesText(labels: Labels): string {
  const { __name__, ...rest } = labels;
  const inner = Object.keys(rest)
    .sort()
    .map((k) => `${k}="${rest[k]}"`)
    .join(",");
  return `${__name__ ?? ""}{${inner}}`;
}

/** `name{a="1"} value @ts`, sorted: order-independent comparison of outputs. */
function fmtAll(samples: Sample[]): string[] {
  return samples.map((x) => `${seriesText(x.labels)} ${x.value} @${x.timestamp}`).sort();
}

/** Final flush, keeping only the outputs whose name ends with `_<output>`. */
function finalOf(stage: AggregateStage, output: string): string[] {
  return fmtAll(stage.flush(0, true).filter((x) => x.labels["__name__"]!.endsWith("_" + output)));
}

// ---------------------------------------------------------------- windows

describe("aggregate: event-time window assignment", () => {
  // interval 10s: [start, start+10000), output stamped with the window end.
  const cases: Array<[number, number]> = [
    [0, 10_000], // exactly at a window start
    [1, 10_000],
    [9_999, 10_000], // last ms of the window
    [10_000, 20_000], // exactly at the end = start of the next window
    [1_700_000_005_000, 1_700_000_010_000], // realistic epoch ms
    [-1, 0], // negative: floor, not truncation
    [-10_000, 0],
    [-10_001, -10_000],
    [2_500.5, 10_000], // non-integer timestamp
  ];
  for (const [ts, end] of cases) {
    it(`ts ${ts} → window ending ${end}`, () => {
      const { stage } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
      stage.process([s("m", {}, 1, ts)], -Infinity);
      assert.deepEqual(fmtAll(stage.flush(0, true)), [`m:10s_count_samples{} 1 @${end}`]);
    });
  }

  it("windows are aligned to multiples of the interval since the epoch (1m)", () => {
    const { stage } = harness([rule({ match: "m", interval: "1m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 59_999), s("m", {}, 1, 60_000), s("m", {}, 1, 119_999), s("m", {}, 1, 120_000)], 0);
    assert.deepEqual(fmtAll(stage.flush(0, true)), [
      "m:1m_count_samples{} 1 @180000",
      "m:1m_count_samples{} 1 @60000",
      "m:1m_count_samples{} 2 @120000",
    ]);
  });
});

// ---------------------------------------------------------------- outputs

describe("aggregate: outputs on a known data set", () => {
  // One group (by fleet), two series, five samples in [0, 10s); arrival order ≠ time order.
  const data = [
    s("speed", { fleet: "a", vin: "V1" }, 3, 1_000),
    s("speed", { fleet: "a", vin: "V2" }, 1, 7_000),
    s("speed", { fleet: "a", vin: "V1" }, 4, 9_000), // latest timestamp
    s("speed", { fleet: "a", vin: "V2" }, -1, 2_000),
    s("speed", { fleet: "a", vin: "V1" }, 8, 5_000), // last to arrive, not latest
  ];
  const expected: Record<string, number> = {
    avg: 3, // (3 + 1 + 4 - 1 + 8) / 5
    min: -1,
    max: 8,
    sum_samples: 15,
    count_samples: 5,
    last: 4,
    count_series: 2,
  };
  for (const [output, value] of Object.entries(expected)) {
    it(output, () => {
      const { stage } = harness([rule({ match: "speed", by: ["fleet"], outputs: [output as AggregationRuleConfig["outputs"][number]] })]);
      stage.process(data, 0);
      assert.deepEqual(finalOf(stage, output), [`speed:10s_by_fleet_${output}{fleet="a"} ${value} @10000`]);
    });
  }

  it("all outputs of one rule at once, one sample each", () => {
    const { stage } = harness([rule({ match: "speed", by: ["fleet"], outputs: ["avg", "min", "max", "sum_samples", "count_samples", "last", "count_series"] })]);
    stage.process(data, 0);
    assert.deepEqual(
      fmtAll(stage.flush(0, true)),
      Object.entries(expected)
        .map(([o, v]) => `speed:10s_by_fleet_${o}{fleet="a"} ${v} @10000`)
        .sort(),
    );
  });

  it("a second sample with the same series and timestamp is a duplicate: the first counts, once, in every output", () => {
    const { stage, drops } = harness([rule({ match: "m", outputs: ["last", "count_samples", "sum_samples"] })]);
    stage.process([s("m", {}, 1, 5_000), s("m", {}, 7, 5_000), s("m", {}, 2, 4_000)], 0);
    stage.process([s("m", {}, 1, 5_000), s("m", {}, 2, 4_000)], 0); // a device's re-send
    assert.deepEqual(finalOf(stage, "last"), ["m:10s_last{} 1 @10000"]);
    assert.deepEqual(drops, [["duplicate", 1], ["duplicate", 2]]);
  });

  it("duplicates are recognised across a checkpoint restore", () => {
    const a = harness([rule({ match: "m", outputs: ["count_samples", "sum_samples"] })]);
    a.stage.process([s("m", { vin: "V1" }, 3, 1_000), s("m", { vin: "V2" }, 4, 1_000)], 0);
    const b = harness([rule({ match: "m", outputs: ["count_samples", "sum_samples"] })]);
    b.stage.restore(JSON.parse(JSON.stringify(a.stage.snapshot())));
    b.stage.process([s("m", { vin: "V1" }, 3, 1_000), s("m", { vin: "V1" }, 5, 2_000)], 0);
    assert.deepEqual(fmtAll(b.stage.flush(0, true)), [
      'm:10s_count_samples{vin="V1"} 2 @10000',
      'm:10s_count_samples{vin="V2"} 1 @10000',
      'm:10s_sum_samples{vin="V1"} 8 @10000',
      'm:10s_sum_samples{vin="V2"} 4 @10000',
    ]);
    assert.deepEqual(b.drops, [["duplicate", 1]]);
  });

  it("last: across batches, by timestamp", () => {
    const { stage } = harness([rule({ match: "m", outputs: ["last"] })]);
    stage.process([s("m", {}, 1, 8_000)], 0);
    stage.process([s("m", {}, 2, 3_000)], 0); // older, arrives later
    assert.deepEqual(finalOf(stage, "last"), ["m:10s_last{} 1 @10000"]);
  });

  it("count_series counts distinct full label sets per group and window", () => {
    const { stage } = harness([rule({ match: "speed", by: ["fleet"], outputs: ["count_series"] })]);
    stage.process(
      [
        s("speed", { fleet: "a", vin: "V1" }, 1, 1_000),
        s("speed", { fleet: "a", vin: "V1" }, 1, 2_000), // same series
        s("speed", { vin: "V2", fleet: "a" }, 1, 3_000), // label order does not matter
        s("speed", { fleet: "a", vin: "V2", x: "" }, 1, 3_000), // empty label = absent: same series
        s("speed", { fleet: "a", vin: "V3" }, 1, 12_000), // next window
        s("speed", { fleet: "b", vin: "V4" }, 1, 4_000), // other group
      ],
      0,
    );
    assert.deepEqual(finalOf(stage, "count_series"), [
      'speed:10s_by_fleet_count_series{fleet="a"} 1 @20000',
      'speed:10s_by_fleet_count_series{fleet="a"} 2 @10000',
      'speed:10s_by_fleet_count_series{fleet="b"} 1 @10000',
    ]);
  });

  it("NaN values (stale markers) are ignored: no window, no count, not forwarded, not dropped", () => {
    const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples", "avg", "max"] })], true);
    const stale = s("m", {}, NaN, 1_000);
    assert.deepEqual(stage.process([stale, s("m", {}, NaN, 15_000), s("m", {}, 2, 2_000)], 0), []);
    assert.deepEqual(fmtAll(stage.flush(0, true)), ["m:10s_avg{} 2 @10000", "m:10s_count_samples{} 1 @10000", "m:10s_max{} 2 @10000"]);
    assert.deepEqual(drops, []);
  });
});

// ---------------------------------------------------------------- grouping

describe("aggregate: grouping and output names", () => {
  const data = [
    s("vehicle_speed_kmh", { fleet: "a", vin: "V1", model: "m1" }, 10, 1_000),
    s("vehicle_speed_kmh", { fleet: "a", vin: "V2", model: "m2" }, 20, 1_000),
    s("vehicle_speed_kmh", { fleet: "b", vin: "V3", model: "m1" }, 30, 1_000),
    s("vehicle_speed_kmh", { vin: "V4", model: "m1" }, 40, 1_000), // no fleet
    s("vehicle_rpm", { fleet: "a", vin: "V1" }, 1000, 1_000), // other metric: own groups
  ];
  const cases: Array<[string, Partial<AggregationRuleConfig>, string[]]> = [
    [
      "by: [fleet]",
      { by: ["fleet"] },
      [
        'vehicle_rpm:10s_by_fleet_sum_samples{fleet="a"} 1000 @10000',
        'vehicle_speed_kmh:10s_by_fleet_sum_samples{fleet="a"} 30 @10000',
        'vehicle_speed_kmh:10s_by_fleet_sum_samples{fleet="b"} 30 @10000',
        "vehicle_speed_kmh:10s_by_fleet_sum_samples{} 40 @10000", // absent label omitted
      ],
    ],
    [
      "by: [model, fleet] (name uses the sorted list)",
      { by: ["model", "fleet"] },
      [
        'vehicle_rpm:10s_by_fleet_model_sum_samples{fleet="a"} 1000 @10000',
        'vehicle_speed_kmh:10s_by_fleet_model_sum_samples{fleet="a",model="m1"} 10 @10000',
        'vehicle_speed_kmh:10s_by_fleet_model_sum_samples{fleet="a",model="m2"} 20 @10000',
        'vehicle_speed_kmh:10s_by_fleet_model_sum_samples{fleet="b",model="m1"} 30 @10000',
        'vehicle_speed_kmh:10s_by_fleet_model_sum_samples{model="m1"} 40 @10000',
      ],
    ],
    [
      "without: [vin, model]",
      { without: ["vin", "model"] },
      [
        'vehicle_rpm:10s_without_model_vin_sum_samples{fleet="a"} 1000 @10000',
        'vehicle_speed_kmh:10s_without_model_vin_sum_samples{fleet="a"} 30 @10000',
        'vehicle_speed_kmh:10s_without_model_vin_sum_samples{fleet="b"} 30 @10000',
        "vehicle_speed_kmh:10s_without_model_vin_sum_samples{} 40 @10000",
      ],
    ],
    [
      "without: [__name__, vin] keeps the metric name",
      { without: ["__name__", "vin"] },
      [
        'vehicle_rpm:10s_without_vin_sum_samples{fleet="a"} 1000 @10000',
        'vehicle_speed_kmh:10s_without_vin_sum_samples{fleet="a",model="m1"} 10 @10000',
        'vehicle_speed_kmh:10s_without_vin_sum_samples{fleet="a",model="m2"} 20 @10000',
        'vehicle_speed_kmh:10s_without_vin_sum_samples{fleet="b",model="m1"} 30 @10000',
        'vehicle_speed_kmh:10s_without_vin_sum_samples{model="m1"} 40 @10000',
      ],
    ],
    [
      "neither: one group per input series",
      {},
      [
        'vehicle_rpm:10s_sum_samples{fleet="a",vin="V1"} 1000 @10000',
        'vehicle_speed_kmh:10s_sum_samples{fleet="a",model="m1",vin="V1"} 10 @10000',
        'vehicle_speed_kmh:10s_sum_samples{fleet="a",model="m2",vin="V2"} 20 @10000',
        'vehicle_speed_kmh:10s_sum_samples{fleet="b",model="m1",vin="V3"} 30 @10000',
        'vehicle_speed_kmh:10s_sum_samples{model="m1",vin="V4"} 40 @10000',
      ],
    ],
  ];
  for (const [title, grouping, want] of cases) {
    it(title, () => {
      const { stage } = harness([rule({ match: '{__name__=~"vehicle_.*"}', outputs: ["sum_samples"], ...grouping })]);
      stage.process(data, 0);
      assert.deepEqual(fmtAll(stage.flush(0, true)), want);
    });
  }

  it("by a label that is an Object.prototype member name: absent means absent", () => {
    const { stage } = harness([rule({ match: "vehicle_rpm", by: ["constructor"], outputs: ["sum_samples"] })]);
    stage.process([...data, s("vehicle_rpm", { constructor: "c", vin: "V9" }, 1, 0)], 0);
    assert.deepEqual(fmtAll(stage.flush(0, true)), [
      'vehicle_rpm:10s_by_constructor_sum_samples{constructor="c"} 1 @10000',
      "vehicle_rpm:10s_by_constructor_sum_samples{} 1000 @10000",
    ]);
  });

  it("the interval appears as written in the config", () => {
    const { stage } = harness([rule({ match: "vehicle_rpm", interval: "1m", without: ["vin"], outputs: ["max"] })]);
    stage.process(data, 0);
    assert.deepEqual(fmtAll(stage.flush(0, true)), ['vehicle_rpm:1m_without_vin_max{fleet="a"} 1000 @60000']);
  });

  it("output labels are fresh objects with __name__ first (inputs are not mutated)", () => {
    const { stage } = harness([rule({ match: "vehicle_rpm", by: ["fleet"], outputs: ["max", "min"] })]);
    const input = s("vehicle_rpm", { fleet: "a", vin: "V1" }, 5, 0);
    stage.process([input], 0);
    const [a, b] = stage.flush(0, true);
    assert.deepEqual(Object.keys(a!.labels), ["__name__", "fleet"]);
    assert.notEqual(a!.labels, b!.labels);
    assert.deepEqual(input.labels, { __name__: "vehicle_rpm", fleet: "a", vin: "V1" });
  });
});

// ---------------------------------------------------------------- lateness

describe("aggregate: allowed lateness (wall clock)", () => {
  // interval 10s, allowed_lateness 5s: window [0, 10s) closes at now = 15s.
  const cases: Array<[string, number, number, boolean]> = [
    ["current window", 5_000, 6_000, true],
    ["window ended, within lateness", 9_999, 14_999, true],
    ["exactly at end + lateness", 9_999, 15_000, false],
    ["after end + lateness", 1_000, 16_000, false],
    ["future timestamp", 100_000, 0, true],
  ];
  for (const [title, ts, now, accepted] of cases) {
    it(`${title}: ts=${ts} now=${now} → ${accepted ? "aggregated" : "too_late"}`, () => {
      const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
      stage.process([s("m", {}, 1, ts)], now);
      assert.deepEqual(drops, accepted ? [] : [["too_late", 1]]);
      assert.equal(stage.flush(now, true).length, accepted ? 1 : 0);
    });
  }

  it("a non-finite timestamp is dropped as invalid_timestamp, not aggregated", () => {
    const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, NaN), s("m", {}, 1, Infinity), s("m", {}, 1, 0)], 0);
    assert.deepEqual(drops, [["invalid_timestamp", 2]]);
    assert.deepEqual(fmtAll(stage.flush(0, true)), ["m:10s_count_samples{} 1 @10000"]);
  });

  it("drops are counted once per batch, with the number of samples", () => {
    const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 0), s("m", {}, 1, 1), s("m", {}, 1, 30_000), s("m", {}, 1, 2)], 30_000);
    assert.deepEqual(drops, [["too_late", 3]]);
  });

  it("a late sample is never merged into another window", () => {
    const { stage } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 12_000)], 16_000); // open window [10s, 20s)
    stage.process([s("m", {}, 1, 1_000)], 16_000); // [0, 10s) already closed
    assert.deepEqual(fmtAll(stage.flush(0, true)), ["m:10s_count_samples{} 1 @20000"]);
  });

  it("flush emits exactly the windows whose end + lateness <= now", () => {
    const { stage } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 1_000), s("m", {}, 1, 11_000), s("m", {}, 1, 21_000)], 0);
    assert.deepEqual(stage.flush(14_999, false), []);
    assert.deepEqual(fmtAll(stage.flush(15_000, false)), ["m:10s_count_samples{} 1 @10000"]);
    assert.deepEqual(fmtAll(stage.flush(34_999, false)), ["m:10s_count_samples{} 1 @20000"]);
    assert.equal(stage.stats().windowsOpen, 1);
    assert.deepEqual(fmtAll(stage.flush(35_000, false)), ["m:10s_count_samples{} 1 @30000"]);
    // nothing left, nothing emitted twice; only the stale marker of the series, at last + staleness_interval (2 × 10s)
    assert.deepEqual(fmtAll(stage.flush(1e15, false)), ["m:10s_count_samples{} NaN @50000"]);
    assert.deepEqual(stage.flush(2e15, false), []);
  });

  it("a sample for an already flushed window is too_late even if the clock says otherwise", () => {
    const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 1_000)], 2_000);
    assert.equal(stage.flush(2_000, true).length, 1); // final flush closes the open window early
    stage.process([s("m", {}, 1, 3_000)], 2_000);
    assert.deepEqual(drops, [["too_late", 1]]);
    assert.deepEqual(stage.flush(2_000, true), []);
  });

  it("per-rule lateness: allowed_lateness 0s closes a window at its end", () => {
    const { stage, drops } = harness([rule({ match: "m", allowed_lateness: "0s", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 9_999)], 9_999);
    stage.process([s("m", {}, 1, 9_999)], 10_000);
    assert.deepEqual(drops, [["too_late", 1]]);
  });
});

// ---------------------------------------------------------------- rules, forwarding, flush

describe("aggregate: rules, forwarding and flushing", () => {
  it("a sample matching several rules is aggregated by each", () => {
    const { stage } = harness([
      rule({ match: '{__name__=~"vehicle_.*"}', by: ["fleet"], outputs: ["count_samples"] }),
      rule({ match: "vehicle_speed_kmh", interval: "1m", outputs: ["max"] }),
    ]);
    stage.process([s("vehicle_speed_kmh", { fleet: "a" }, 7, 0), s("vehicle_rpm", { fleet: "a" }, 9, 0)], 0);
    assert.deepEqual(fmtAll(stage.flush(0, true)), [
      'vehicle_rpm:10s_by_fleet_count_samples{fleet="a"} 1 @10000',
      'vehicle_speed_kmh:10s_by_fleet_count_samples{fleet="a"} 1 @10000',
      'vehicle_speed_kmh:1m_max{fleet="a"} 7 @60000',
    ]);
  });

  it("match may be a list of selectors (any of them)", () => {
    const { stage } = harness([rule({ match: ["a", 'b{k="1"}'], outputs: ["count_samples"] })]);
    stage.process([s("a", {}, 1, 0), s("b", { k: "1" }, 1, 0), s("b", { k: "2" }, 1, 0), s("c", {}, 1, 0)], 0);
    assert.deepEqual(fmtAll(stage.flush(0, true)), ["a:10s_count_samples{} 1 @10000", 'b:10s_count_samples{k="1"} 1 @10000']);
  });

  it("a too-late sample is counted once per rule that drops it", () => {
    const { stage, drops } = harness([
      rule({ match: "m", outputs: ["count_samples"] }),
      rule({ match: "m", interval: "1m", outputs: ["count_samples"] }), // still open for this one
      rule({ match: "m", allowed_lateness: "1s", outputs: ["max"] }),
    ]);
    stage.process([s("m", {}, 1, 1_000)], 20_000);
    assert.deepEqual(drops, [["too_late", 2]]);
    assert.deepEqual(fmtAll(stage.flush(0, true)), ["m:1m_count_samples{} 1 @60000"]);
  });

  for (const forward of [true, false]) {
    it(`forward_unmatched: ${forward}`, () => {
      const { stage, drops } = harness([rule({ match: "m", outputs: ["count_samples"] })], forward);
      const unmatched = [s("other", { a: "1" }, 1, 0), s("other2", {}, 2, 0)];
      const out = stage.process([s("m", {}, 1, 0), unmatched[0]!, s("m", {}, 1, 1), unmatched[1]!], 0);
      if (forward) {
        assert.equal(out.length, 2);
        assert.equal(out[0], unmatched[0]); // unchanged: the same object
        assert.equal(out[1], unmatched[1]);
      } else {
        assert.deepEqual(out, []);
      }
      // A deliberate filter is still counted (as relabel drops are): reason="unmatched".
      assert.deepEqual(drops, forward ? [] : [["unmatched", 2]]);
      assert.deepEqual(fmtAll(stage.flush(0, true)), ["m:10s_count_samples{} 2 @10000"]);
    });
  }

  it("with no rules, everything is forwarded (or dropped)", () => {
    const batch = [s("m", {}, 1, 0)];
    assert.deepEqual(harness([], true).stage.process(batch, 0), batch);
    assert.deepEqual(harness([], false).stage.process(batch, 0), []);
  });

  it("flush output is in time order per series, older windows first, across rules", () => {
    const { stage } = harness([
      rule({ match: "m", outputs: ["count_samples"] }),
      rule({ match: "m", outputs: ["count_samples"] }), // same output series on purpose
    ]);
    stage.process([s("m", {}, 1, 25_000), s("m", {}, 1, 5_000), s("m", {}, 1, 15_000), s("m", {}, 1, -5_000)], 0);
    const times = stage.flush(0, true).map((x) => x.timestamp);
    assert.deepEqual(times, [0, 0, 10_000, 10_000, 20_000, 20_000, 30_000, 30_000]);
  });

  it("final flush emits every open window and frees all state", () => {
    const { stage } = harness([rule({ match: "m", outputs: ["count_samples"] })]);
    stage.process([s("m", {}, 1, 0), s("m", {}, 1, 1e12)], 0);
    assert.deepEqual(stage.flush(0, false), []);
    assert.equal(stage.flush(0, true).length, 2);
    assert.deepEqual(stage.stats(), { windowsOpen: 0, seriesActive: 0 });
    assert.deepEqual(stage.flush(0, true), []);
  });

  it("stats: open windows and distinct input series across them", () => {
    const { stage } = harness([
      rule({ match: "m", by: ["k"], outputs: ["count_samples"] }),
      rule({ match: "m", interval: "1m", outputs: ["count_samples"] }),
    ]);
    assert.deepEqual(stage.stats(), { windowsOpen: 0, seriesActive: 0 });
    stage.process([s("m", { k: "1", v: "a" }, 1, 0), s("m", { k: "1", v: "b" }, 1, 11_000), s("m", { k: "2", v: "a" }, 1, 1_000)], 0);
    // rule 0: windows 0 and 10s; rule 1: window 0. Series: {k=1,v=a}, {k=1,v=b}, {k=2,v=a}.
    assert.deepEqual(stage.stats(), { windowsOpen: 3, seriesActive: 3 });
    stage.flush(15_000, false); // closes rule 0's first window only
    assert.deepEqual(stage.stats(), { windowsOpen: 2, seriesActive: 3 });
    stage.flush(65_000, false);
    assert.deepEqual(stage.stats(), { windowsOpen: 0, seriesActive: 0 });
  });
});

// ---------------------------------------------------------------- config errors

describe("aggregate: bad rules are rejected at construction, naming the key", () => {
  const cases: Array<[string, AggregationRuleConfig[], RegExp]> = [
    ["bad selector", [rule({ match: "ok", outputs: ["avg"] }), rule({ match: "{a=}", outputs: ["avg"] })], /^aggregation\[1\]\.match: invalid series selector '\{a=\}' at column 4/],
    ["bad selector in a list", [rule({ match: ["ok", "rate(x[5m])"], outputs: ["avg"] })], /^aggregation\[0\]\.match\[1\]: .*function call/],
    ["bad interval", [rule({ match: "m", interval: "10x", outputs: ["avg"] })], /^aggregation\[0\]\.interval: not a valid duration/],
    ["zero interval", [rule({ match: "m", interval: "0", outputs: ["avg"] })], /^aggregation\[0\]\.interval: must be greater than 0/],
    ["bad lateness", [rule({ match: "m", allowed_lateness: "soon", outputs: ["avg"] })], /^aggregation\[0\]\.allowed_lateness: /],
    ["by and without", [rule({ match: "m", by: ["a"], without: ["b"], outputs: ["avg"] })], /^aggregation\[0\]\.without: `by` and `without` are mutually exclusive/],
    ["unknown output", [rule({ match: "m", outputs: ["avg", "median" as "avg"] })], /^aggregation\[0\]\.outputs\[1\]: unknown output "median"; valid outputs: avg, min, max, sum_samples, count_samples, last, count_series/],
    ["duplicate output", [rule({ match: "m", outputs: ["avg", "max", "avg"] })], /^aggregation\[0\]\.outputs\[2\]: duplicate output "avg"/],
    ["arguments to a plain output", [rule({ match: "m", outputs: ["avg(0.5)" as "avg"] })], /^aggregation\[0\]\.outputs\[0\]: output "avg" takes no arguments/],
    ["no outputs", [rule({ match: "m", outputs: [] })], /^aggregation\[0\]\.outputs: at least one output/],
  ];
  for (const [title, rules, message] of cases) {
    it(title, () => {
      assert.throws(() => harness(rules), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
