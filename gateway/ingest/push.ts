import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import type { DeviceAuth, Identity } from "./auth/device-auth.js";
import { parseBasicAuth } from "./auth/basic-auth-header.js";
import { RateLimitedLog } from "./auth/device-auth.js";

/**
 * `POST /api/v1/push/<topic>`: a device message over HTTP, for devices and
 * sidecars that cannot speak MQTT. Same topic rules and payload limit as an
 * MQTT PUBLISH, the same credentials (the password file, as basic auth) and the
 * same ACL check (write). Answers: 204 accepted, 503 while starting or
 * stopping (Retry-After), 400 undecodable (with the
 * reason), 401, 403 ACL refusal, 413 larger than mqtt.max_payload_bytes, 429
 * over `http.push.rate_limit` for this identity (with Retry-After).
 */

export interface PushOptions {
  config: Config["http"]["push"];
  maxPayloadBytes: number;
  auth: DeviceAuth;
  metrics: Metrics;
  log: Logger;
  /**
   * The gateway's message path (the MQTT one, through the ingest journal): resolves once the
   * message is durable and processed, to null when samples were produced, else the reason none were.
   */
  onMessage: (topic: string, payload: Buffer, clientId: string) => string | null | void | Promise<string | null | void>;
}

/** Per-identity token buckets; the map is bounded so unknown keys cannot grow it without limit. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Takes a token; returns 0 when allowed, else the seconds until one is available. */
  take(key: string, nowMs = Date.now()): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: nowMs };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) / 1000) * this.ratePerSecond);
    b.at = nowMs;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.ratePerSecond;
  }
}

/** Why a topic cannot be published to ([MQTT-4.7.3-1], [MQTT-3.3.2-2], [MQTT-4.7.3-2]), or null. */
export function publishTopicProblem(topic: string): string | null {
  if (topic === "") return "empty topic";
  if (/[+#]/.test(topic)) return "wildcards (+ #) are not allowed in a topic name";
  if (topic.includes("\u0000")) return "NUL character in topic";
  if (Buffer.byteLength(topic) > 65535) return "topic longer than 65535 bytes";
  if (topic.split("/").length > 100) return "topic has more than 100 levels";
  return null;
}

declare module "fastify" {
  interface FastifyRequest {
    pushIdentity?: Identity;
  }
}

export function registerPush(app: FastifyInstance, opts: PushOptions): void {
  const buckets = new TokenBuckets(opts.config.rate_limit, opts.config.burst);
  const refusals = new RateLimitedLog(opts.log);
  app.register(async (scope) => {
    // Any content type, as raw bytes: the topic rule decides the format, as for MQTT.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: opts.maxPayloadBytes }, (_req, body, done) => done(null, body));
    scope.addHook("onResponse", async (_req, reply) => {
      opts.metrics.pushRequests.inc({ code: String(reply.statusCode) });
    });
    const fail = (reply: FastifyReply, code: number, reason: string, message: string, fields: Record<string, unknown>) => {
      if (code === 401 || code === 403 || code === 429) refusals.warn(`push:${reason}`, fields, `http push refused: ${message}`);
      return reply.code(code).type("text/plain").send(message + "\n");
    };
    scope.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
      const topic = (req.params as { "*"?: string })["*"] ?? "";
      const cred = parseBasicAuth(req.headers.authorization);
      let identity: Identity | null = null;
      if (cred) identity = await opts.auth.verifyPassword(cred.user, cred.password);
      else if (opts.auth.describe().allow_anonymous) identity = { username: null, via: "anonymous" };
      if (!identity) {
        reply.header("www-authenticate", 'Basic realm="edgegate push", charset="UTF-8"');
        return fail(reply, 401, "bad_credentials", cred ? "bad user name or password" : "credentials required (basic auth with the device's password-file entry)", { username: cred?.user });
      }
      const bad = publishTopicProblem(topic);
      if (bad) return reply.code(400).type("text/plain").send(`invalid topic ${JSON.stringify(topic)}: ${bad}\n`);
      const d = opts.auth.checkPushWrite(identity, topic);
      if (!d.allowed) {
        opts.metrics.mqttAclRefusals.inc({ action: "publish", reason: d.reason });
        return fail(reply, 403, d.reason, `not authorised to publish to ${topic}`, { username: identity.username, topic });
      }
      const wait = buckets.take(identity.username ?? `anonymous:${req.ip}`);
      if (wait > 0) {
        reply.header("retry-after", String(Math.ceil(wait)));
        return fail(reply, 429, "rate_limited", "rate limited (http.push.rate_limit)", { username: identity.username });
      }
      req.pushIdentity = identity;
    });
    scope.post("/api/v1/push/*", async (req, reply) => {
      const topic = (req.params as { "*"?: string })["*"] ?? "";
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const reason = await opts.onMessage(topic, body, `http-push:${req.pushIdentity?.username ?? "anonymous"}`);
      // Starting or shutting down: nothing was lost, the device should retry.
      if (reason === "not_ready") return reply.code(503).header("retry-after", "1").type("text/plain").send("gateway is starting or stopping\n");
      // The journal cannot commit (disk full): not accepted, as an MQTT publish gets no PUBACK; the device keeps it and retries.
      if (reason === "storage_full") return reply.code(503).header("retry-after", "5").type("text/plain").send("gateway storage is full; not accepted, retry later\n");
      if (typeof reason === "string") return reply.code(400).type("text/plain").send(`no samples decoded: ${reason}\n`);
      return reply.code(204).send();
    });
  });
}
