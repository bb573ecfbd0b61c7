import { z } from "zod";
import { labelName } from "./schema-common.js";
import { httpSchema, ingestSchema, mqttSchema, topicSchema } from "./schema-ingest.js";
import { storageSchema } from "./schema-storage.js";
import { aggregationSchema } from "./schema-pipeline.js";
import { remoteWriteSchema } from "./schema-remote-write.js";
import { relabelConfigsSchema } from "./schema-relabel.js";
import { globalLimitsSchema } from "./schema-limits.js";
import { enrichSchema } from "./schema-enrich.js";
import { deriveSchema } from "./schema-derive.js";

export { AGGREGATION_OUTPUTS } from "./schema-pipeline.js";

/**
 * The single source of truth for edgegate's configuration, so that the
 * type, the defaults, the docs and the checks cannot drift apart: every key, its default and its description. The TypeScript type is derived
 * from it, and docs/configuration.md is generated from it (scripts/config-reference.ts;
 * a test fails when the generated file is stale).
 *
 * Keys are Prometheus-style snake_case; durations are Prometheus durations
 * (`500ms`, `10s`, `5m`, `1h30m`); unknown keys are errors (a typo must not be
 * silently ignored).
 *
 * Each area's keys live in their own module (schema-ingest, schema-storage,
 * schema-pipeline, schema-remote-write); this file composes the top level.
 */

export const configSchema = z
  .strictObject({
    mqtt: mqttSchema.prefault({}),
    http: httpSchema.prefault({}),
    ingest: ingestSchema.prefault({}),
    storage: storageSchema.prefault({}),
    external_labels: z
      .record(labelName, z.string().min(1))
      .default({})
      .describe("Labels added to every series sent; as in Prometheus, a label the series already has wins over an external label of the same name.")
      .meta({ example: { site: "depot-7" } }),
    topics: z
      .array(topicSchema)
      .describe("Topic rules: how a message on a topic becomes samples. The first rule whose template matches wins.")
      .meta({
        example: [
            { topic: "vehicles/{vin}/telemetry", format: "json", metric_prefix: "vehicle_", timestamp_field: "ts", label_fields: ["fleet", "model"] },
            { topic: "plant/{line}/+/readings", format: "json", metric_prefix: "plant_", labels: { source: "plc" } },
          ],
      }),
    enrich: z.array(enrichSchema).prefault([]).describe("Device registries: labels from reference data keyed by a sample label, applied in order after decoding (docs/pipeline.md)."),
    relabel_configs: relabelConfigsSchema("Prometheus relabelling of every sample, after enrich and before derive (docs/pipeline.md)."),
    derive: z.array(deriveSchema).default([]).describe("New samples computed from the signals of one message, after relabel_configs (docs/pipeline.md)."),
    limits: globalLimitsSchema.prefault({}).describe("Global cardinality limiter, after derive and before aggregation (docs/pipeline.md)."),
    aggregation: z
      .array(aggregationSchema)
      .default([])
      .describe("Stream aggregation rules (vmagent-style, event-time windows).")
      .meta({
        example: [
            { match: '{__name__=~"vehicle_(speed_kmh|rpm)"}', interval: "1m", by: ["fleet", "model"], outputs: ["avg", "max", "count_series"], allowed_lateness: "10s" },
            { match: '{__name__=~"vehicle_.*", __name__!~"vehicle_(speed_kmh|rpm)"}', interval: "10s", outputs: ["last"] },
          ],
      }),
    forward_unmatched: z.boolean().default(true).describe("Forward samples matched by no aggregation rule unchanged."),
    remote_write: z
      .array(remoteWriteSchema)
      .min(1)
      .describe("Where the reduced series are sent.")
      .meta({ example: [{ url: "http://127.0.0.1:9090/api/v1/write", name: "prometheus" }] }),
  });

export type Config = z.output<typeof configSchema>;
export type TopicRuleConfig = Config["topics"][number];
export type AggregationRuleConfig = Config["aggregation"][number];
export type RemoteWriteConfig = Config["remote_write"][number];
