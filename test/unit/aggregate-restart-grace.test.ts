import { it } from "node:test";
import assert from "node:assert/strict";
import { AggregateStage } from "../../gateway/pipeline/aggregate/aggregate-stage.js";
import { sample as s } from "../helpers/samples.js";
import { parseRules } from "../helpers/aggregation-rules.js";

/**
 * Issue #11: a restart gives the windows the devices could not complete while
 * the gateway was down their allowed lateness again, counted from when it
 * accepts connections — also a window that had no sample yet at the crash
 * (every message for it was unacknowledged, so the devices send it all
 * again after the restart). Not a window the previous run already flushed,
 * and not an old backlog on a first start.
 */
function harness() {
  const drops: [string, number][] = [];
  const stage = new AggregateStage({
    rules: parseRules([{ match: "m", interval: "10s", allowed_lateness: "5s", outputs: ["count_samples"] }]),
    forwardUnmatched: false,
    onDrop: (reason, n) => drops.push([reason, n]),
  });
  return { stage, drops };
}

// Windows emitted (stale markers, NaN, left out).
const out = (stage: AggregateStage, now: number) => stage.flush(now, false).filter((x) => !Number.isNaN(x.value)).map((x) => `${x.labels["__name__"]} ${x.value} @${x.timestamp}`);

/** A run that flushed the window [0, 10 s) and was killed at 18 s, before any sample of [10 s, 20 s) was acknowledged. */
function crashedRun() {
  const a = harness();
  a.stage.resume(0);
  a.stage.process([s("m", {}, 1, 5_000)], 1_000);
  assert.deepEqual(out(a.stage, 15_000), ["m:10s_count_samples 1 @10000"]);
  return JSON.parse(JSON.stringify(a.stage.snapshot()));
}

it("after a restart, a window that had no sample at the crash gets the grace: its samples, sent again, count", () => {
  const b = harness();
  b.stage.restore(crashedRun());
  b.stage.resume(40_000); // accepting again 22 s after the crash: [10 s, 20 s) closed at 25 s by the plain rule
  b.stage.process([s("m", {}, 1, 12_000), s("m", {}, 1, 15_000)], 41_000);
  assert.deepEqual(b.drops, []);
  assert.deepEqual(out(b.stage, 44_999), []);
  assert.deepEqual(out(b.stage, 45_000), ["m:10s_count_samples 2 @20000"]);
});

it("a window the previous run flushed is not opened again", () => {
  const b = harness();
  b.stage.restore(crashedRun());
  b.stage.resume(40_000);
  b.stage.process([s("m", {}, 1, 6_000)], 41_000);
  assert.deepEqual(b.drops, [["too_late", 1]]);
  assert.deepEqual(out(b.stage, 45_000), []);
});

it("on a first start (nothing restored), an old backlog follows the plain rule", () => {
  const c = harness();
  c.stage.resume(40_000);
  c.stage.process([s("m", {}, 1, 15_000)], 41_000);
  assert.deepEqual(c.drops, [["too_late", 1]]);
});
