import { z } from "zod";
import { hostPort, labelName } from "./schema-common.js";

export const mqttSchema = z
  .strictObject({
    listen: hostPort("Address of the embedded MQTT 3.1.1 broker (TCP).").default("0.0.0.0:1883"),
    max_payload_bytes: z.number().int().positive().default(262144).describe("Largest PUBLISH payload accepted; larger ones are dropped and counted (reason=\"payload_too_large\")."),
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
  format: z.enum(["json"]).default("json").describe("Payload format."),
  metric_prefix: z.string().default("").describe("Prefix of every metric name decoded from this topic, e.g. `vehicle_`."),
  timestamp_field: z.string().optional().describe("Payload field holding the sample time (epoch milliseconds or RFC 3339); absent → arrival time."),
  label_fields: z.array(z.string().min(1)).default([]).describe("String (or numeric) payload fields that become labels instead of samples."),
  labels: z.record(labelName, z.string().min(1)).default({}).describe("Static labels added to every sample of this topic."),
});
