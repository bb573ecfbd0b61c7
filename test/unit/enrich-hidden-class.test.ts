import { it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import { enrichSchema } from "../../gateway/config/schema-enrich.js";
import { DeviceRegistry } from "../../gateway/registry/registry.js";
import { EnrichStage } from "../../gateway/pipeline/enrich.js";
import type { Sample } from "../../gateway/prom/sample.js";

/**
 * Memory, not timing: an enriched label set must not get a V8 hidden class
 * of its own. Each such class is allocated in old space (with its
 * descriptors and, at the limiter's first `for…in`, an enum cache), so one
 * per sample grew the flink demo's heap by ~10 MB/s at 30k events/s until a
 * full GC. Copies of labels with the same keys in the same order must share
 * one class once the code is optimized, as they did before it was.
 */
const dir = mkdtempSync(join(tmpdir(), "edgegate-enrich-class-"));
after(() => rmSync(dir, { recursive: true, force: true }));

v8.setFlagsFromString("--allow-natives-syntax");
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
v8.setFlagsFromString("--no-allow-natives-syntax");

it("enriched labels of one shape share one hidden class, also once optimized", () => {
  const file = join(dir, "vehicles.csv");
  writeFileSync(file, ["vehicleId,model", ...Array.from({ length: 1000 }, (_, i) => `V${i},Type-${String.fromCharCode(65 + (i % 7))}`)].join("\n"));
  const config = enrichSchema.parse({ name: "vehicles", key_label: "vehicleId", file, labels: ["model"] });
  const stage = new EnrichStage([config], [new DeviceRegistry(config)], () => {});
  // As the JSON decoder builds them: topic labels assigned onto the payload's, then __name__ first.
  const decoded = (i: number): Sample => {
    const labels: Record<string, string> = {};
    labels.eventType = i % 2 === 0 ? "IC_RPM" : "WARNINGS";
    Object.assign(labels, { region: "UK", vehicleId: `V${i % 1000}` });
    return { labels: Object.assign({ __name__: "fleet_event_measurement" }, labels), value: i, timestamp: i };
  };
  // Enough batches for V8 to optimize process() (the class per copy appeared only in optimized code).
  let last: Sample[] = [];
  for (let b = 0; b < 20_000; b++) last = stage.process(Array.from({ length: 10 }, (_, k) => decoded(b * 10 + k)));
  const [a, c] = [last[0]!.labels, last[2]!.labels];
  assert.equal(a.model, `Type-${String.fromCharCode(65 + (990 % 7))}`); // V990, the last batch's first vehicle
  assert.notEqual(a, c);
  assert.ok(haveSameMap(a, c), "two enriched label sets with the same keys have different hidden classes");
});
