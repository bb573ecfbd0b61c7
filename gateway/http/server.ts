import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { parseListen } from "../config/listen-address.js";
import { applyWebConfig, httpsOptions, type WebConfigOptions } from "./web-config.js";
import { registerPush, type PushOptions } from "../ingest/push.js";
import { lazySchemaController } from "./lazy-schema-compilers.js";

export interface HttpServerOptions {
  listen: string;
  log: Logger;
  registry: Registry;
  isReady: () => boolean;
  status: () => unknown;
  /** tls_server_config and basic_auth_users (Prometheus web config). */
  web?: WebConfigOptions;
  /** POST /api/v1/push/<topic>. */
  push?: PushOptions;
  /** More routes on the same instance (status page, reload), so the same hooks (auth) cover them. */
  routes?: ((app: FastifyInstance) => void)[];
}

/**
 * edgegate's own HTTP endpoints, named like Prometheus's: `/-/healthy`,
 * `/-/ready`, `/metrics` (self-metrics), `/api/v1/status` (JSON).
 */
export interface HttpServer {
  address(): string | { address: string; port: number } | null;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  // Request logs at info would drown the gateway's own log on a Pi: the HTTP logger starts at warn.
  const level = opts.log.levelVal > 40 ? opts.log.level : "warn";
  const loggerInstance = opts.log.child({ component: "http" }, { level });
  // One FastifyInstance type for both: the HTTPS variant differs only in its raw server type.
  const schemaController = lazySchemaController as FastifyServerOptions["schemaController"];
  const app = (opts.web?.tls ? Fastify({ loggerInstance, schemaController, https: httpsOptions(opts.web.tls) }) : Fastify({ loggerInstance, schemaController })) as unknown as FastifyInstance;
  if (opts.web) applyWebConfig(app, opts.web);
  if (opts.push) registerPush(app, opts.push);
  app.get("/-/healthy", async (_req, reply) => reply.type("text/plain").send("edgegate is Healthy.\n"));
  app.get("/-/ready", async (_req, reply) => {
    if (opts.isReady()) return reply.type("text/plain").send("edgegate is Ready.\n");
    return reply.code(503).type("text/plain").send("edgegate is not ready.\n");
  });
  app.get("/metrics", async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
  app.get("/api/v1/status", async () => opts.status());
  for (const register of opts.routes ?? []) register(app as unknown as FastifyInstance);
  const { host, port } = parseListen(opts.listen);
  await app.listen({ host, port });
  return { address: () => app.server.address(), close: () => app.close() };
}
