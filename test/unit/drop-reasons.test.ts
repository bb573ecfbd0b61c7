import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DROP_REASONS } from "../../gateway/metrics/drop-reasons.js";
import { LIMIT_REASON_COUNTERS } from "../../gateway/metrics/limit-reasons.js";
import { createMetrics } from "../../gateway/metrics/catalogue.js";
import { initKnownLabels } from "../../gateway/metrics/known-labels.js";
import { REPO } from "../helpers/gateway-process.js";

/** Every .ts file of the gateway. */
function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/**
 * Reason strings as the code writes them: passed to a drop callback
 * (`onDrop("x", n)`, `this.onDrop("x")`, `onMessageDropped?.("x")`), given as a
 * drop counter's label (`messagesDropped.inc({ reason: "x" })`), as a stage's
 * drop reason (`dropReason = "x"`), or as an eviction reason.
 */
const PATTERNS = [
  /[oO]nDrop\??\.?\(\s*"([a-z0-9_]+)"/g,
  /onMessageDropped\??\.?\(\s*"([a-z0-9_]+)"/g,
  /Dropped\.inc\(\{\s*reason:\s*"([a-z0-9_]+)"/g,
  /[dD]ropReason[^=\n]*=\s*"([a-z0-9_]+)"/g,
  /new RelabelStage\([^)]*"([a-z0-9_]+)"\)/g,
  /sweep\(\s*"(evicted_[a-z]+)"/g,
  /reason:\s*"(evicted_[a-z]+)"/g,
];

test("every drop reason used in the code is in the catalogue", () => {
  const used = new Map<string, string>();
  for (const file of sources(join(REPO, "gateway"))) {
    const text = readFileSync(file, "utf8");
    for (const re of PATTERNS) for (const m of text.matchAll(re)) used.set(m[1]!, file.slice(REPO.length + 1));
  }
  // The scan must see the reasons, or it proves nothing.
  assert.ok(used.size >= 25, `only ${used.size} reasons found: ${[...used.keys()].join(", ")}`);
  for (const [reason, file] of used) assert.ok(reason in DROP_REASONS, `${file} drops with reason "${reason}", which gateway/metrics/drop-reasons.ts does not declare`);
  for (const reason of Object.keys(DROP_REASONS)) assert.ok(used.has(reason), `"${reason}" is declared but no code drops with it`);
});

test("every drop reason in the catalogue is documented in docs/drop-reasons.md", () => {
  const doc = readFileSync(join(REPO, "docs", "drop-reasons.md"), "utf8");
  for (const [reason, d] of Object.entries(DROP_REASONS)) {
    const row = doc.split("\n").find((l) => l.startsWith(`| \`${reason}\` |`));
    assert.ok(row, `docs/drop-reasons.md has no row for "${reason}"`);
    assert.ok(row.includes(d.help), `docs/drop-reasons.md describes "${reason}" differently from the catalogue`);
  }
});

test("every broker refusal and label-value repair reason is documented and exported at 0", async () => {
  const doc = readFileSync(join(REPO, "docs", "drop-reasons.md"), "utf8");
  const m = createMetrics();
  initKnownLabels(m, []);
  const exposition = await m.registry.metrics();
  let n = 0;
  for (const [counter, reasons] of Object.entries(LIMIT_REASON_COUNTERS)) {
    for (const [reason, help] of Object.entries(reasons)) {
      n++;
      const row = doc.split("\n").find((l) => l.startsWith(`| \`${reason}\` | \`${counter}\` |`));
      assert.ok(row, `docs/drop-reasons.md has no row for ${counter}{reason="${reason}"}`);
      assert.ok(row.includes(help), `docs/drop-reasons.md describes ${counter}{reason="${reason}"} differently from limit-reasons.ts`);
      assert.ok(exposition.includes(`${counter}{reason="${reason}"} 0`), `${counter}{reason="${reason}"} is not exported at 0`);
    }
  }
  assert.ok(n >= 15, `only ${n} reasons`);
});
