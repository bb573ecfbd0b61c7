import { z } from "zod";
import { hostPort, labelName } from "./schema-common.js";
import { relabelConfigsSchema } from "./schema-relabel.js";
import { limitsSchema } from "./schema-limits.js";
import { mqttLimitsShape } from "./schema-ingest-limits.js";

export const mqttSchema = z
  .strictObject({
    listen: hostPort("Address of the embedded MQTT 3.1.1 broker (TCP).").default("0.0.0.0:1883"),
    max_payload_bytes: z.number().int().positive().default(262144).describe("Largest PUBLISH payload accepted; larger ones are dropped and counted (reason=\"payload_too_large\")."),
    ...mqttLimitsShape,
  })
  .describe("The embedded MQTT broker devices publish to.");

export const httpSchema = z
  .strictObject({
    listen: hostPort("Address of the HTTP server (/metrics, /-/healthy, /-/ready, /api/v1/status).").default("0.0.0.0:9480"),
  })
  .describe("edgegate's own HTTP endpoints.");

export const topicSchema = z.strictObject({
  topic: z
    .string()
    .min(1)
    .describe("MQTT topic template: `{name}` binds a topic level to a label, `+` matches one level, `#` (last) any number of levels."),
  format: z
    .enum(["json", "protobuf"])
    .default("json")
    .describe("Payload format: `json` (an object or an array of objects) or `protobuf` (`edgegate.telemetry.v1.TelemetryBatch` of proto/telemetry.proto; field names, metric_prefix, timestamp_field and label_fields mean the same as for JSON)."),
  metric_prefix: z.string().default("").describe("Prefix of every metric name decoded from this topic, e.g. `vehicle_`."),
  timestamp_field: z.string().optional().describe("Payload field holding the sample time (epoch milliseconds or RFC 3339); absent → arrival time."),
  label_fields: z.array(z.string().min(1)).default([]).describe("String (or numeric) payload fields that become labels instead of samples."),
  labels: z.record(labelName, z.string().min(1)).default({}).describe("Static labels added to every sample of this topic."),
  relabel_configs: relabelConfigsSchema("Prometheus relabelling of this rule's samples, right after decoding (before enrich); docs/pipeline.md."),
  limits: limitsSchema.prefault({}).describe("Cardinality limiter for this rule's series, after its relabel_configs."),
});

export { ingestSchema } from "./schema-ingest-limits.js";
