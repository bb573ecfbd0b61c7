import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../gateway/config/load.js";
import { TopicRouter } from "../../gateway/ingest/topic-router.js";
import { buildStages } from "../../gateway/pipeline/build.js";
import { Pipeline } from "../../gateway/pipeline/pipeline.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { FLINK_EVENTS, FLINK_REGION } from "../fixtures/flink-script.js";

/**
 * The shipped deploy/examples/flink-demo.yaml, in process (no sockets, no
 * Prometheus: runs everywhere): topic rule → enrich → aggregation, on the
 * scripted event sequence of test/e2e/flink-demo.test.ts, whose header
 * holds the hand computation. Window [0, 5s), output at 5000.
 */
const REPO = join(import.meta.dirname, "..", "..");

test("deploy/examples/flink-demo.yaml computes the Flink demo's vehicles_in_motion and warnings", () => {
  const yaml = readFileSync(join(REPO, "deploy", "examples", "flink-demo.yaml"), "utf8").replace(
    "file: vehicles.csv",
    `file: ${join(REPO, "deploy", "examples", "vehicles.csv")}`,
  );
  const config = parseConfig(yaml, "flink-demo.yaml");
  const drops: Record<string, number> = {};
  const onDrop = (reason: string, n: number) => (drops[reason] = (drops[reason] ?? 0) + n);
  const { stages, registries } = buildStages(config, { onDrop });
  try {
    const out: Sample[] = [];
    const pipeline = new Pipeline(stages, (s) => out.push(...s));
    const router = new TopicRouter(config.topics);
    const region = FLINK_REGION;
    const events = FLINK_EVENTS;
    for (const [id, eventType, measurement, t] of events) {
      const batch: Sample[] = [];
      const payload = JSON.stringify({ eventType, vehicleId: id, region: region[id], timestamp: t, measurement });
      assert.ok(router.route(`fleet/${region[id]}/${id}/events`, payload, 4_000, batch, onDrop));
      pipeline.push(batch, 4_000);
    }
    pipeline.tick(10_000); // end 5000 + allowed_lateness 5s
    const got = out.map((s) => `${s.labels["__name__"]}{model="${s.labels["model"]}",region="${s.labels["region"]}"} ${s.value} @${s.timestamp} ${Object.keys(s.labels).length}`).sort();
    assert.deepEqual(got, [
      'vehicles_in_motion{model="Type-A",region="UK"} 2 @5000 3',
      'vehicles_in_motion{model="Type-B",region="DE"} 1 @5000 3',
      'vehicles_in_motion{model="Type-B",region="UK"} 0 @5000 3',
      'warnings{model="Type-A",region="UK"} 10 @5000 3',
      'warnings{model="Type-B",region="DE"} 0 @5000 3',
    ]);
    assert.deepEqual(drops, {}); // no payload field unmapped, no enrich miss, nothing late
  } finally {
    for (const r of registries) r.close();
  }
});
