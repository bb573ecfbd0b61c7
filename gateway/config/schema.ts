import { z } from "zod";
import { parseDuration } from "./duration.js";
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
 * The single source of truth for edgegate's configuration (STYLE.md practice 3):
 * every key, its default and its description. The TypeScript type is derived
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
    external_labels: z.record(labelName, z.string().min(1)).default({}).describe("Labels added to every series sent; as in Prometheus, a label the series already has wins over an external label of the same name."),
    topics: z.array(topicSchema).describe("Topic rules: how a message on a topic becomes samples. The first rule whose template matches wins."),
    enrich: z.array(enrichSchema).default([]).describe("Device registries: labels from reference data keyed by a sample label, applied in order after decoding (docs/pipeline.md)."),
    relabel_configs: relabelConfigsSchema("Prometheus relabelling of every sample, after enrich and before derive (docs/pipeline.md)."),
    derive: z.array(deriveSchema).default([]).describe("New samples computed from the signals of one message, after relabel_configs (docs/pipeline.md)."),
    limits: globalLimitsSchema.prefault({}).describe("Global cardinality limiter, after derive and before aggregation (docs/pipeline.md)."),
    aggregation: z.array(aggregationSchema).default([]).describe("Stream aggregation rules (vmagent-style, event-time windows)."),
    forward_unmatched: z.boolean().default(true).describe("Forward samples matched by no aggregation rule unchanged."),
    remote_write: z.array(remoteWriteSchema).min(1).describe("Where the reduced series are sent."),
  })
  .superRefine((cfg, ctx) => {
    cfg.aggregation.forEach((rule, i) => {
      if (rule.by && rule.without) {
        ctx.addIssue({ code: "custom", path: ["aggregation", i, "without"], message: "`by` and `without` are mutually exclusive" });
      }
      // An invalid duration is already reported by its own refinement (which does not abort the parse).
      let intervalMs = 1;
      try {
        intervalMs = parseDuration(rule.interval);
      } catch {
        /* reported */
      }
      if (intervalMs <= 0) {
        ctx.addIssue({ code: "custom", path: ["aggregation", i, "interval"], message: "must be greater than 0", input: rule.interval });
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type TopicRuleConfig = Config["topics"][number];
export type AggregationRuleConfig = Config["aggregation"][number];
export type RemoteWriteConfig = Config["remote_write"][number];
