import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureVersion, TLSSocket } from "node:tls";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import { parseBasicAuth } from "../ingest/auth/basic-auth-header.js";

/**
 * Prometheus's web config for edgegate's HTTP server (exporter-toolkit
 * web/tls_config.go): `tls_server_config` for HTTPS with Go's client_auth_type
 * names, and `basic_auth_users` (user → bcrypt hash) for the operators'
 * endpoints. /-/healthy and /-/ready stay open (orchestrator probes), and the
 * device push endpoint has its own credentials (the MQTT password file).
 */

type TlsServerConfig = NonNullable<Config["http"]["tls_server_config"]>;

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3" };

/** node:https options for Fastify from tls_server_config. */
export function httpsOptions(t: TlsServerConfig) {
  const auth = t.client_auth_type;
  return {
    cert: readFileSync(t.cert_file),
    key: readFileSync(t.key_file),
    ca: t.client_ca_file ? readFileSync(t.client_ca_file) : undefined,
    requestCert: auth !== "NoClientCert",
    // Only RequireAndVerifyClientCert fails the handshake in node:tls itself; the
    // "any certificate" and "verify if given" policies are checked per connection below.
    rejectUnauthorized: auth === "RequireAndVerifyClientCert",
    minVersion: TLS_VERSIONS[t.min_version],
  };
}

/** Why a TLS connection does not satisfy client_auth_type, or null when it does. */
export function clientCertProblem(t: TlsServerConfig, socket: TLSSocket): string | null {
  const cert = socket.getPeerCertificate();
  const given = cert !== null && typeof cert === "object" && Object.keys(cert).length > 0;
  switch (t.client_auth_type) {
    case "RequireAnyClientCert":
      return given ? null : "client certificate required";
    case "VerifyClientCertIfGiven":
      return given && !socket.authorized ? `client certificate not trusted: ${String(socket.authorizationError)}` : null;
    case "RequireAndVerifyClientCert":
      return socket.authorized ? null : "verified client certificate required";
    default:
      return null;
  }
}

/** Paths that never ask for basic auth. */
export function isOpenPath(url: string): boolean {
  const path = url.split("?", 1)[0]!;
  return path === "/-/healthy" || path === "/-/ready" || path.startsWith("/api/v1/push/");
}

/** A bcrypt hash of nothing anyone knows: checked for unknown users so that user names cannot be probed by timing. */
const DUMMY_HASH = "$2y$10$hn3bZF6nRN4CxfIjx1IQVuRoBXdgu0wJ76NIdUT2FVhexBV6g.r62";

/**
 * bcrypt costs ~50-100 ms per check (pure JS here), too much for every scrape.
 * Like exporter-toolkit, a successful check is cached briefly, keyed by a hash
 * of user, stored hash and password: a wrong password never hits the cache,
 * and a changed hash (config reload) misses it.
 */
export class BasicAuthVerifier {
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly users: Record<string, string>,
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 1024,
  ) {}

  async verify(user: string, password: string): Promise<boolean> {
    const hash = Object.hasOwn(this.users, user) ? this.users[user]! : undefined;
    const key = createHash("sha256").update(`${user}\0${hash ?? ""}\0${password}`).digest("base64");
    const until = this.cache.get(key);
    if (hash !== undefined && until !== undefined && until > Date.now()) return true;
    // bcryptjs reads "$2y$" hashes (htpasswd -B) like "$2a$" ones.
    // Loaded on first use: a gateway without HTTP basic auth never needs it.
    const { default: bcrypt } = await import("bcryptjs");
    const ok = await bcrypt.compare(password, hash ?? DUMMY_HASH);
    if (!ok || hash === undefined) return false;
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, Date.now() + this.ttlMs);
    return true;
  }
}

export interface WebConfigOptions {
  tls?: TlsServerConfig;
  basicAuthUsers?: Record<string, string>;
  metrics: Metrics;
}

/**
 * Installs the web config on a Fastify instance: one onRequest hook for basic
 * auth (so every route added later, by anyone, is protected too) and the
 * per-connection client-certificate policy.
 */
export function applyWebConfig(app: FastifyInstance, opts: WebConfigOptions): void {
  const tls = opts.tls;
  if (tls && tls.client_auth_type !== "NoClientCert" && tls.client_auth_type !== "RequestClientCert") {
    app.server.on("secureConnection", (socket: TLSSocket) => {
      const problem = clientCertProblem(tls, socket);
      if (problem) {
        opts.metrics.httpAuthRefusals.inc({ reason: "client_certificate" });
        socket.destroy();
      }
    });
  }
  const users = opts.basicAuthUsers;
  if (!users || Object.keys(users).length === 0) return;
  const verifier = new BasicAuthVerifier(users);
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    if (isOpenPath(req.url)) return;
    const cred = parseBasicAuth(req.headers.authorization);
    if (cred && (await verifier.verify(cred.user, cred.password))) return;
    opts.metrics.httpAuthRefusals.inc({ reason: cred ? "bad_credentials" : "missing_credentials" });
    return reply.code(401).header("www-authenticate", 'Basic realm="edgegate", charset="UTF-8"').type("text/plain").send("Unauthorized\n");
  });
}
