import { it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import type { Json } from "../../gateway/pipeline/aggregate/output.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/**
 * Issue 10: a checkpoint holding a high-water mark in the year 3000 (written
 * before the ingest timestamp window existed, or under a wrong clock) must not
 * refuse every later sample as too_late once restored.
 */
const RULE = parseRules([{ match: "m", interval: "10s", allowed_lateness: "2s", outputs: ["count_samples"] }])[0]!;
const NOW = 1_700_000_005_000;
const YEAR_3000 = 32_503_680_000_000;

function stage(drops: Record<string, number>): AggregateStage {
  return new AggregateStage({ rules: [RULE], forwardUnmatched: false, onDrop: (r, n) => (drops[r] = (drops[r] ?? 0) + n) });
}

function futureCheckpoint(): Json {
  const s = stage({});
  s.process([{ labels: { __name__: "m" }, value: 1, timestamp: YEAR_3000 }], NOW);
  s.process([{ labels: { __name__: "m" }, value: 1, timestamp: YEAR_3000 + 20_000 }], NOW); // an open window after the flush
  s.flush(NOW, true);
  s.process([{ labels: { __name__: "m" }, value: 1, timestamp: YEAR_3000 + 50_000 }], NOW);
  return JSON.parse(JSON.stringify(s.snapshot())) as Json;
}

it("without clamping, a restored year-3000 watermark refuses every later sample (the bug)", () => {
  const drops: Record<string, number> = {};
  const s = stage(drops);
  s.restore(futureCheckpoint());
  s.process([{ labels: { __name__: "m" }, value: 1, timestamp: NOW + 1000 }], NOW + 1000);
  assert.equal(drops.too_late, 1);
});

it("clampFuture discards state beyond now + skew; later samples are aggregated again", () => {
  const drops: Record<string, number> = {};
  const s = stage(drops);
  s.restore(futureCheckpoint());
  assert.equal(s.stats().windowsOpen, 1);
  const clamped = s.clampFuture(NOW + 300_000);
  assert.deepEqual(clamped, { rules: 1, windows: 1, samples: 1 });
  assert.equal(s.stats().windowsOpen, 0);
  // The watermark now sits at now + skew (a window flushed at shutdown may legitimately reach that far);
  // samples after it are aggregated again.
  const later = NOW + 301_000;
  s.process([{ labels: { __name__: "m" }, value: 1, timestamp: later }], later);
  assert.equal(drops.too_late, undefined);
  const out = s.flush(later + 20_000, false);
  assert.deepEqual(out.filter((x) => !Number.isNaN(x.value)).map((x) => [x.labels.__name__, x.value, x.timestamp]), [["m:10s_count_samples", 1, 1_700_000_310_000]]);
});

it("max_open_windows and max_groups bound the state one client can open; refusals are counted, existing groups keep flowing", () => {
  const drops: Record<string, number> = {};
  const s = new AggregateStage({
    rules: parseRules([{ match: "m", interval: "10s", allowed_lateness: "1h", by: ["fleet"], outputs: ["count_samples"] }]),
    forwardUnmatched: false,
    onDrop: (r, n) => (drops[r] = (drops[r] ?? 0) + n),
    maxOpenWindows: 3,
    maxGroups: 4,
  });
  // 100 distinct windows (timestamps 10 s apart): only 3 open.
  s.process(Array.from({ length: 100 }, (_, i) => ({ labels: { __name__: "m", fleet: "a" }, value: 1, timestamp: NOW - i * 10_000 })), NOW);
  assert.equal(s.stats().windowsOpen, 3);
  assert.equal(drops.window_limit, 97);
  // 50 new fleets in the current window: one more group fits (3 used), the rest are refused.
  s.process(Array.from({ length: 50 }, (_, i) => ({ labels: { __name__: "m", fleet: `f${i}` }, value: 1, timestamp: NOW })), NOW);
  assert.equal(s.groupsOpen(), 4);
  assert.equal(drops.group_limit, 49);
  // An existing group keeps receiving samples (a later timestamp: the same one again would be a duplicate).
  s.process([{ labels: { __name__: "m", fleet: "a" }, value: 1, timestamp: NOW + 1 }], NOW);
  const out = s.flush(NOW + 3_600_000 + 20_000, false).filter((x) => !Number.isNaN(x.value) && x.labels.fleet === "a" && x.timestamp === 1_700_000_010_000);
  assert.deepEqual(out.map((x) => x.value), [2]);
  assert.equal(s.groupsOpen(), 0);
  assert.equal(s.stats().windowsOpen, 0);
});
