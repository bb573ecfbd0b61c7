import { it } from "node:test";
import assert from "node:assert/strict";
import { Core, type Sample } from "../../gateway/core.js";
import { parseConfig } from "../../gateway/config/load.js";

/**
 * Issue 10 after the core refactor: the sample guard (timestamp window, label
 * value repair) and the checkpoint clamp live in the Core, so the gateway, a
 * config reload (a new Core from the new config), device-sim verify and the
 * benchmarks all apply the same rules.
 */
const NOW = 1_700_000_000_000;

function yaml(skew: string): string {
  return `
ingest: {max_future_skew: ${skew}, max_sample_age: 1h}
topics: [{topic: "d/{id}", timestamp_field: ts, label_fields: [note]}]
aggregation: [{match: "m", interval: 10s, outputs: [count_samples]}]
forward_unmatched: true
remote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]
`;
}

function core(skew: string) {
  const drops: Record<string, number> = {};
  const replaced: Record<string, number> = {};
  const out: Sample[] = [];
  const c = new Core(
    parseConfig(yaml(skew), "test"),
    { onDrop: (r, n) => (drops[r] = (drops[r] ?? 0) + n), onLabelValuesReplaced: (r, n) => (replaced[r] = (replaced[r] ?? 0) + n) },
    (s) => out.push(...s),
  );
  return { c, drops, replaced, out };
}

it("every decoded sample passes the window and the label repair before any stage", () => {
  const { c, drops, replaced, out } = core("5m");
  c.ingest("d/a", JSON.stringify({ ts: NOW + 10 * 60_000, v: 1 }), NOW);
  c.ingest("d/a", JSON.stringify({ ts: NOW - 2 * 3_600_000, v: 1 }), NOW);
  c.ingest("d/a", JSON.stringify({ ts: NOW - 1000, v: 2, note: "a\u0000b\ud800" }), NOW);
  assert.equal(drops.too_far_in_future, 1);
  assert.equal(drops.too_old, 1);
  assert.deepEqual(replaced, { invalid_utf16: 1, control_character: 1 });
  assert.deepEqual(out.map((s) => [s.labels.note, s.value]), [["a\ufffdb\ufffd", 2]]);
});

it("a core built from a reloaded config applies the new window", () => {
  const msg = JSON.stringify({ ts: NOW + 10 * 60_000, v: 1 });
  const before = core("5m");
  before.c.ingest("d/a", msg, NOW);
  assert.equal(before.out.length, 0);
  const after = core("15m");
  after.c.ingest("d/a", msg, NOW);
  assert.equal(after.out.length, 1);
  assert.equal(after.drops.too_far_in_future, undefined);
});

it("a restored checkpoint loses its state beyond now + max_future_skew, counted as too_far_in_future", () => {
  // A run whose clock was a year ahead left an open window there.
  const yearAhead = NOW + 365 * 86_400_000;
  const wrong = core("5m");
  wrong.c.ingest("d/a", JSON.stringify({ ts: yearAhead, m: 1 }), yearAhead);
  // Through JSON, as the recovery table stores it (recovery.ts restores with restoreSnapshot).
  const snapshot = JSON.parse(JSON.stringify(wrong.c.built.aggregate.snapshot())) as Parameters<Core["restoreSnapshot"]>[0];
  const next = core("5m");
  const report = next.c.restoreSnapshot(snapshot, NOW);
  assert.equal(report.restored, true);
  assert.deepEqual(report.clamped, { rules: 1, windows: 1, samples: 1 });
  assert.equal(next.drops.too_far_in_future, 1);
  next.c.ingest("d/a", JSON.stringify({ ts: NOW, m: 1 }), NOW);
  next.c.tick(NOW + 3_600_000, true);
  assert.equal(next.drops.too_late, undefined);
  assert.deepEqual(next.out.map((s) => [s.labels.__name__, s.value]), [["m:10s_count_samples", 1]]);
});
