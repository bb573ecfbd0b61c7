import { z } from "zod";
import { duration } from "./schema-common.js";

export const remoteWriteSchema = z.strictObject({
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
