import { z } from "zod";
import { duration, filePath } from "./schema-common.js";
import { relabelConfigsOptional } from "./schema-relabel.js";

const tlsSchema = z
  .strictObject({
    ca_file: filePath("CA certificate(s) (PEM) to verify the receiver's certificate with, instead of the system's.").optional(),
    cert_file: filePath("Client certificate (PEM) for mutual TLS; needs key_file.").optional(),
    key_file: filePath("Private key (PEM) of cert_file.").optional(),
    server_name: z.string().min(1).optional().describe("Server name to verify the certificate against (and send as SNI), if not the URL's host."),
    insecure_skip_verify: z.boolean().default(false).describe("Do not verify the receiver's certificate (testing only)."),
  })
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), { message: "cert_file and key_file go together", path: ["key_file"] })
  .describe("TLS settings for an https:// url, as Prometheus's tls_config.");

const sigv4Schema = z
  .strictObject({
    region: z.string().min(1).optional().describe("AWS region, e.g. eu-west-1 (default: AWS_REGION / AWS_DEFAULT_REGION)."),
    access_key: z.string().min(1).optional().describe("AWS access key id (default: AWS_ACCESS_KEY_ID)."),
    secret_key: z.string().min(1).optional().describe("AWS secret access key (default: AWS_SECRET_ACCESS_KEY)."),
    role_arn: z.string().min(1).optional().describe("IAM role to assume with STS before signing (credentials refreshed before they expire)."),
  })
  .refine((s) => (s.access_key === undefined) === (s.secret_key === undefined), { message: "access_key and secret_key go together", path: ["secret_key"] })
  .describe("Sign requests with AWS Signature Version 4 (service \"aps\"), for Amazon Managed Service for Prometheus.");

/**
 * The remote-write authentication methods, in one table: the config keys (at
 * most one per target), what each sends, and (remote-write/headers.ts) one
 * implementation per key, checked by the compiler against this list.
 */
export const REMOTE_WRITE_AUTH_METHODS = {
  basic_auth: "`Authorization: Basic` from `username` and `password` or `password_file` (user info in the URL does the same)",
  bearer_token: "`Authorization: Bearer <token>`",
  bearer_token_file: "`Authorization: Bearer` with the token read from the file at every request",
  sigv4: "an AWS Signature Version 4 of every request (Amazon Managed Service for Prometheus)",
} as const;
export type RemoteWriteAuthMethod = keyof typeof REMOTE_WRITE_AUTH_METHODS;
const AUTH_KEYS = Object.keys(REMOTE_WRITE_AUTH_METHODS) as RemoteWriteAuthMethod[];

export const remoteWriteSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe("Remote-Write endpoint, e.g. http://127.0.0.1:9090/api/v1/write."),
    name: z.string().regex(/^[a-zA-Z0-9_.-]+$/).optional().describe("Target name used in self-metrics, the status API and the outbox queue key (default: host of the URL)."),
    remote_timeout: duration("Timeout of one HTTP request.").prefault("30s"),
    headers: z.record(z.string().min(1), z.string()).default({}).describe("Extra HTTP headers; the Remote-Write protocol headers, Authorization and hop-by-hop headers cannot be set here."),
    basic_auth: z
      .strictObject({
        username: z.string().min(1),
        password: z.string().optional(),
        password_file: filePath("File holding the password (read at every request, so it can be rotated).").optional(),
      })
      .refine((b) => !(b.password !== undefined && b.password_file !== undefined), { message: "password and password_file are mutually exclusive", path: ["password_file"] })
      .optional()
      .describe("HTTP basic authentication."),
    bearer_token: z.string().min(1).optional().describe("Sent as `Authorization: Bearer <token>`."),
    bearer_token_file: filePath("File holding the bearer token (read at every request, so it can be rotated).").optional(),
    tls_config: tlsSchema.optional(),
    sigv4: sigv4Schema.optional(),
    queue_config: z
      .strictObject({
        max_samples_per_send: z.number().int().positive().default(2000).describe("Most samples in one request."),
        min_backoff: duration("First retry delay after a retryable failure.").prefault("30ms"),
        max_backoff: duration("Largest retry delay (capped exponential backoff).").prefault("5s"),
        max_retry_duration: duration(
          "How long a batch may keep being answered 5xx/429 before it is moved to the dead letters (reason=\"max_retry_duration\"). Only answers count: network errors and timeouts are retried until storage.max_age/max_bytes evict the batch. 0 = retry answers forever.",
        ).prefault("10m"),
        replay_speed: z
          .number()
          .nonnegative()
          .default(20)
          .describe("Backlog replay rate limit, as a multiple of real time: batches committed t seconds apart are sent at least t/replay_speed seconds apart (each wait capped at 5 s). 0 = no limit."),
        replay_concurrency: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(4)
          .describe(
            "Requests in flight at once per shard while a backlog is drained (several outbox rows merged): the merged rows are split by a hash of each series' labels into this many lanes, each lane sent as requests of at most max_samples_per_send one after another, so every series stays in time order. The next rows are sent once every lane is answered 2xx. 1 = one request at a time.",
          ),
        shards: z
          .number()
          .int()
          .min(1)
          .max(64)
          .default(1)
          .describe(
            "Parallel requests to this target: one request in flight per shard, each shard with its own outbox queue. Each series always goes to the same shard, chosen by a hash of its sorted labels, so per-series order is kept. 1 (one request in flight) suits a vanilla Prometheus; raise it for receivers that take parallel writes (Mimir, Thanos, VictoriaMetrics). After a change, batches queued under the previous value are sent first, one at a time.",
          ),
      })
      .prefault({})
      .describe("Batching, retry and replay settings."),
    write_relabel_configs: relabelConfigsOptional("Prometheus relabelling applied for this target only, before encoding (after external_labels); dropped samples are counted as reason=\"write_relabel_drop\"."),
  })
  .superRefine((rw, ctx) => {
    const auth = AUTH_KEYS.filter((k) => rw[k] !== undefined);
    if (auth.length > 1) ctx.addIssue({ code: "custom", path: [auth[1]!], message: `only one of ${AUTH_KEYS.join(", ")} may be set (also set: ${auth[0]})` });
    if (rw.tls_config !== undefined && !rw.url.startsWith("https:")) ctx.addIssue({ code: "custom", path: ["tls_config"], message: "tls_config needs an https:// url" });
  });
