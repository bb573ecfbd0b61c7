import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { aggregatedName, groupingSuffix, normalizeLabelList } from "../../gateway/pipeline/aggregate/naming.js";

describe("aggregate naming (vmagent's <metric>:<interval>[_by_|_without_<labels>]_<output>)", () => {
  const cases: Array<[string, string, string[] | undefined, string[] | undefined, string, string]> = [
    ["vehicle_speed_kmh", "10s", ["fleet"], undefined, "avg", "vehicle_speed_kmh:10s_by_fleet_avg"],
    ["vehicle_rpm", "1m", undefined, ["vin"], "max", "vehicle_rpm:1m_without_vin_max"],
    ["vehicle_speed_kmh", "1m", ["model", "fleet"], undefined, "avg", "vehicle_speed_kmh:1m_by_fleet_model_avg"], // sorted
    ["vehicle_speed_kmh", "1m", ["fleet", "fleet"], undefined, "min", "vehicle_speed_kmh:1m_by_fleet_min"], // de-duplicated
    ["vehicle_speed_kmh", "1m", ["__name__", "fleet"], undefined, "last", "vehicle_speed_kmh:1m_by_fleet_last"], // __name__ left out
    ["x", "5m", undefined, ["b", "a"], "count_series", "x:5m_without_a_b_count_series"],
    ["x", "1h30m", undefined, undefined, "sum_samples", "x:1h30m_sum_samples"], // interval as written
    ["x", "10s", [], undefined, "count_samples", "x:10s_count_samples"], // empty list = no grouping part
    ["x", "10s", ["__name__"], undefined, "avg", "x:10s_avg"],
  ];
  for (const [metric, interval, by, without, output, want] of cases) {
    it(want, () => assert.equal(aggregatedName(metric, interval, by, without, output), want));
  }

  it("groupingSuffix is the part before the output", () => {
    assert.equal(groupingSuffix("10s", ["b", "a"]), ":10s_by_a_b");
    assert.equal(groupingSuffix("10s", undefined, ["vin"]), ":10s_without_vin");
    assert.equal(groupingSuffix("10s"), ":10s");
  });

  it("normalizeLabelList sorts, de-duplicates and drops __name__", () => {
    assert.deepEqual(normalizeLabelList(["z", "__name__", "a", "z"]), ["a", "z"]);
    assert.deepEqual(normalizeLabelList(undefined), []);
  });
});
