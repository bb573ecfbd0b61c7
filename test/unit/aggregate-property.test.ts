import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { isStaleNaN } from "../../gateway/remote-write/codec.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/**
 * Conservation: whatever the arrival order, batching and wall-clock
 * progression, every non-NaN sample is either counted in exactly one window
 * or reported as too_late — and which one is decided by the contract alone
 * (window end + allowed_lateness <= now at processing time, with a clock that
 * never goes back).
 */

const INTERVAL = 10_000;
const LATENESS = 5_000;

const sampleArb = fc.record({
  vin: fc.constantFrom("V1", "V2", "V3"),
  fleet: fc.constantFrom("a", "b"),
  value: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -1000, max: 1000 }) }, { weight: 1, arbitrary: fc.constant(NaN) }),
  timestamp: fc.integer({ min: -INTERVAL, max: 4 * INTERVAL }),
});

/** Batches of samples, each processed at a wall-clock time; a flush may follow any batch. */
const scenarioArb = fc.array(
  fc.record({
    samples: fc.array(sampleArb, { maxLength: 20 }),
    advance: fc.integer({ min: 0, max: 8_000 }),
    flush: fc.boolean(),
  }),
  { minLength: 1, maxLength: 12 },
);

describe("aggregate: property", () => {
  it("count_samples and sum_samples account for every sample not dropped as too_late", () => {
    fc.assert(
      fc.property(scenarioArb, fc.constantFrom<string[] | undefined>(["fleet"], undefined), (scenario, by) => {
        let dropped = 0;
        let duplicates = 0;
        const stage = new AggregateStage({
          rules: parseRules([{ match: "m", interval: "10s", allowed_lateness: "5s", ...(by ? { by } : {}), outputs: ["count_samples", "sum_samples", "count_series", "min", "max", "avg"] }]),
          forwardUnmatched: false,
          onDrop: (reason, n) => {
            if (reason === "duplicate") duplicates += n;
            else {
              assert.equal(reason, "too_late");
              dropped += n;
            }
          },
        });

        let now = 0;
        let expectedCount = 0;
        let expectedSum = 0;
        let expectedDropped = 0;
        let expectedDuplicates = 0;
        // Same series and timestamp as a sample already accepted: a duplicate, counted once (issue #11).
        const accepted = new Set<string>();
        const out: Sample[] = [];
        for (const step of scenario) {
          now += step.advance;
          const batch = step.samples.map((x) => ({ labels: { __name__: "m", vin: x.vin, fleet: x.fleet }, value: x.value, timestamp: x.timestamp }));
          for (const x of batch) {
            if (Number.isNaN(x.value)) continue;
            const end = Math.floor(x.timestamp / INTERVAL) * INTERVAL + INTERVAL;
            const id = `${x.labels.vin}/${x.labels.fleet}/${x.timestamp}`;
            if (end + LATENESS <= now) expectedDropped++;
            else if (accepted.has(id)) expectedDuplicates++;
            else {
              accepted.add(id);
              expectedCount++;
              expectedSum += x.value;
            }
          }
          assert.deepEqual(stage.process(batch, now), []);
          if (step.flush) out.push(...stage.flush(now, false));
        }
        out.push(...stage.flush(now, true));
        // Stale markers (for groups that went quiet) are not aggregates: set them aside.
        for (let k = out.length - 1; k >= 0; k--) if (isStaleNaN(out[k]!.value)) out.splice(k, 1);

        const total = (suffix: string) =>
          out.filter((x) => x.labels["__name__"]!.endsWith(suffix)).reduce((acc, x) => acc + x.value, 0);
        assert.equal(dropped, expectedDropped);
        assert.equal(duplicates, expectedDuplicates);
        assert.equal(total("_count_samples"), expectedCount);
        assert.equal(total("_sum_samples"), expectedSum);

        // Per (group, window): min <= avg <= max, and 1 <= count_series <= count_samples.
        const byKey = new Map<string, Record<string, number>>();
        for (const x of out) {
          const name = x.labels["__name__"]!;
          const output = name.slice(name.indexOf("_", name.indexOf(":")) + 1).replace(/^by_fleet_/, "");
          const key = JSON.stringify({ ...x.labels, __name__: "", t: x.timestamp });
          const rec = byKey.get(key) ?? {};
          rec[output] = x.value;
          byKey.set(key, rec);
        }
        for (const rec of byKey.values()) {
          assert.ok(rec["min"]! <= rec["avg"]! + 1e-9 && rec["avg"]! <= rec["max"]! + 1e-9, JSON.stringify(rec));
          assert.ok(rec["count_series"]! >= 1 && rec["count_series"]! <= rec["count_samples"]!, JSON.stringify(rec));
        }
        assert.deepEqual(stage.stats(), { windowsOpen: 0, seriesActive: 0 });
      }),
    );
  });

  it("window assignment is a partition of event time: each timestamp in exactly one window [start, end), windows adjacent", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: -5 * INTERVAL, max: 5 * INTERVAL }), { minLength: 1, maxLength: 40 }), (timestamps) => {
        const stage = new AggregateStage({ rules: parseRules([{ match: "m", interval: "10s", outputs: ["min", "max", "count_samples"] }]), forwardUnmatched: false, onDrop: () => assert.fail("no drops") });
        stage.process(timestamps.map((t) => ({ labels: { __name__: "m" }, value: t, timestamp: t })), -Infinity);
        const out = stage.flush(0, true);
        const windows = new Map<number, Record<string, number>>();
        for (const x of out) {
          const rec = windows.get(x.timestamp) ?? {};
          rec[x.labels["__name__"]!.split("_").pop()!] = x.value;
          windows.set(x.timestamp, rec);
        }
        let total = 0;
        for (const [end, rec] of windows) {
          // the value IS the timestamp: every member lies in [end - interval, end)
          assert.ok(rec["min"]! >= end - INTERVAL && rec["max"]! < end, JSON.stringify({ end, rec }));
          assert.ok(end % INTERVAL === 0); // aligned (-0 included)
          total += rec["samples"]!;
        }
        assert.equal(total, timestamps.length); // each timestamp counted exactly once
        // and in the window the formula names
        for (const t of timestamps) assert.ok(windows.has(Math.floor(t / INTERVAL) * INTERVAL + INTERVAL));
      }),
    );
  });

  it("counters: the sum of `increase` over windows equals the final `total`, and total is non-decreasing", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ vin: fc.constantFrom("V1", "V2"), value: fc.integer({ min: 0, max: 100 }), timestamp: fc.integer({ min: 0, max: 5 * INTERVAL }) }), { minLength: 1, maxLength: 40 }),
        (samples) => {
          const stage = new AggregateStage({ rules: parseRules([{ match: "c", interval: "10s", without: ["vin"], outputs: ["total", "increase"] }]), forwardUnmatched: false, onDrop: () => undefined });
          stage.process(samples.map((x) => ({ labels: { __name__: "c", vin: x.vin }, value: x.value, timestamp: x.timestamp })), -Infinity);
          const out = stage.flush(0, true);
          const series = (o: string) => out.filter((x) => x.labels["__name__"]!.endsWith("_" + o)).sort((a, b) => a.timestamp - b.timestamp);
          const totals = series("total").map((x) => x.value);
          const increases = series("increase").map((x) => x.value);
          for (let i = 1; i < totals.length; i++) assert.ok(totals[i]! >= totals[i - 1]!);
          assert.equal(increases.reduce((a, b) => a + b, 0), totals[totals.length - 1]);
          // and (independently) per series: first value + sum of positive steps, resets counting the new value
          let expected = 0;
          for (const vin of ["V1", "V2"]) {
            const seen = new Set<number>(); // a repeated (series, timestamp) is a duplicate: the first arrival counts
            const vals = samples.map((x, i) => ({ ...x, i })).filter((x) => x.vin === vin && !seen.has(x.timestamp) && seen.add(x.timestamp) !== undefined).sort((a, b) => a.timestamp - b.timestamp || a.i - b.i).map((x) => x.value);
            vals.forEach((v, i) => (expected += i === 0 ? v : v >= vals[i - 1]! ? v - vals[i - 1]! : v));
          }
          assert.equal(totals[totals.length - 1], expected);
        },
      ),
    );
  });
});
