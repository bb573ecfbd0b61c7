import { z } from "zod";
import { parseDuration } from "./duration.js";

/**
 * The single source of truth for edgegate's configuration (STYLE.md practice 3):
 * every key, its default and its description. The TypeScript type is derived
 * from it, and docs/configuration.md is generated from it (scripts/gen-config-docs.ts;
 * a test fails when the generated file is stale).
 *
 * Keys are Prometheus-style snake_case; durations are Prometheus durations
 * (`500ms`, `10s`, `5m`, `1h30m`); unknown keys are errors (a typo must not be
 * silently ignored).
 */

const duration = (desc: string) =>
  z
    .string()
    .refine(
      (s) => {
        try {
          parseDuration(s);
          return true;
        } catch {
          return false;
        }
      },
      { message: "not a valid duration (use e.g. 500ms, 10s, 5m, 1h30m)" },
    )
    .describe(desc);

const hostPort = (desc: string) =>
  z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]*|[0-9a-fA-F:]+):\d{1,5}$/, "must be host:port, e.g. 0.0.0.0:1883 or [::1]:1883")
    .describe(desc);

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "must be a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)");

export const AGGREGATION_OUTPUTS = ["avg", "min", "max", "sum_samples", "count_samples", "last", "count_series"] as const;

const mqttSchema = z
  .strictObject({
    listen: hostPort("Address of the embedded MQTT 3.1.1 broker (TCP).").default("0.0.0.0:1883"),
    max_payload_bytes: z.number().int().positive().default(262144).describe("Largest PUBLISH payload accepted; larger ones are dropped and counted (reason=\"payload_too_large\")."),
  })
  .describe("The embedded MQTT broker devices publish to.");

const httpSchema = z
  .strictObject({
    listen: hostPort("Address of the HTTP server (/metrics, /-/healthy, /-/ready, /api/v1/status).").default("0.0.0.0:9480"),
  })
  .describe("edgegate's own HTTP endpoints.");

const storageSchema = z
  .strictObject({
    path: z.string().min(1).default("./data/edgegate.db").describe("SQLite file of the store-and-forward outbox (WAL mode); its folder is created if missing."),
    flush_interval: duration("How often samples leaving the pipeline are committed to the outbox as encoded Remote-Write batches.").default("1s"),
  })
  .describe("The SQLite outbox that holds encoded batches until the receiver acknowledges them.");

const topicSchema = z.strictObject({
  topic: z
    .string()
    .min(1)
    .describe("MQTT topic template: `{name}` binds a topic level to a label, `+` matches one level, `#` (last) any number of levels."),
  format: z.enum(["json"]).default("json").describe("Payload format."),
  metric_prefix: z.string().default("").describe("Prefix of every metric name decoded from this topic, e.g. `vehicle_`."),
  timestamp_field: z.string().optional().describe("Payload field holding the sample time (epoch milliseconds or RFC 3339); absent → arrival time."),
  label_fields: z.array(z.string().min(1)).default([]).describe("String (or numeric) payload fields that become labels instead of samples."),
  labels: z.record(labelName, z.string().min(1)).default({}).describe("Static labels added to every sample of this topic."),
});

const aggregationSchema = z.strictObject({
  match: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .describe("Prometheus series selector(s), e.g. `{__name__=~\"vehicle_.*\"}`; a sample matching any of them enters this rule."),
  interval: duration("Window length; windows are aligned to multiples of it since the Unix epoch (event time)."),
  by: z.array(labelName).optional().describe("Group by these labels (drop all others). Mutually exclusive with `without`."),
  without: z.array(labelName).optional().describe("Group by all labels except these. Mutually exclusive with `by`."),
  outputs: z.array(z.enum(AGGREGATION_OUTPUTS)).min(1).describe(`Aggregates to emit per group and window: ${AGGREGATION_OUTPUTS.join(", ")}.`),
  allowed_lateness: duration("How long after a window's end it stays open for late samples (wall clock); later samples are dropped as reason=\"too_late\".").default("5s"),
});

const remoteWriteSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).describe("Remote-Write endpoint, e.g. http://127.0.0.1:9090/api/v1/write."),
  name: z.string().regex(/^[a-zA-Z0-9_.-]+$/).optional().describe("Target name used in self-metrics and the status API (default: host of the URL)."),
  remote_timeout: duration("Timeout of one HTTP request.").default("30s"),
  headers: z.record(z.string().min(1), z.string()).default({}).describe("Extra HTTP headers; the Remote-Write protocol headers cannot be overridden."),
  basic_auth: z
    .strictObject({ username: z.string().min(1), password: z.string() })
    .optional()
    .describe("HTTP basic authentication."),
  bearer_token: z.string().min(1).optional().describe("Sent as `Authorization: Bearer <token>`."),
  queue_config: z
    .strictObject({
      max_samples_per_send: z.number().int().positive().default(2000).describe("Most samples in one request."),
      min_backoff: duration("First retry delay after a retryable failure.").default("30ms"),
      max_backoff: duration("Largest retry delay (capped exponential backoff).").default("5s"),
    })
    .prefault({})
    .describe("Batching and retry settings, as Prometheus's."),
});

export const configSchema = z
  .strictObject({
    mqtt: mqttSchema.prefault({}),
    http: httpSchema.prefault({}),
    storage: storageSchema.prefault({}),
    external_labels: z.record(labelName, z.string().min(1)).default({}).describe("Labels added to every series sent; as in Prometheus, a label the series already has wins over an external label of the same name."),
    topics: z.array(topicSchema).describe("Topic rules: how a message on a topic becomes samples. The first rule whose template matches wins."),
    aggregation: z.array(aggregationSchema).default([]).describe("Stream aggregation rules (vmagent-style, event-time windows)."),
    forward_unmatched: z.boolean().default(true).describe("Forward samples matched by no aggregation rule unchanged."),
    remote_write: z.array(remoteWriteSchema).min(1).describe("Where the reduced series are sent."),
  })
  .superRefine((cfg, ctx) => {
    cfg.aggregation.forEach((rule, i) => {
      if (rule.by && rule.without) {
        ctx.addIssue({ code: "custom", path: ["aggregation", i, "without"], message: "`by` and `without` are mutually exclusive" });
      }
      if (parseDuration(rule.interval) <= 0) {
        ctx.addIssue({ code: "custom", path: ["aggregation", i, "interval"], message: "must be greater than 0", input: rule.interval });
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type TopicRuleConfig = Config["topics"][number];
export type AggregationRuleConfig = Config["aggregation"][number];
export type RemoteWriteConfig = Config["remote_write"][number];
