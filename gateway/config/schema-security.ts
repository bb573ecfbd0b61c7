import { z } from "zod";
import { filePath, hostPort } from "./schema-common.js";
import { exposedListeners, hasAuthMethod, type MqttSecurityView } from "./mqtt-security-view.js";

// In a module of their own (no zod) because the running gateway needs them, and it never loads the validator.
export { allowAnonymous, isLoopbackListen } from "./mqtt-security-view.js";

/**
 * Device trust and operator access: the broker's listeners and authentication
 * (Mosquitto's option names and file formats) and the HTTP server's TLS and
 * basic auth (Prometheus's web config, exporter-toolkit's `tls_server_config`
 * and `basic_auth_users`), so an operator who knows either needs nothing new.
 */

export const TLS_VERSIONS = ["TLS10", "TLS11", "TLS12", "TLS13"] as const;

/** An optional listen address: "" disables the listener. */
const hostPortCheck = hostPort("");
export const optionalListen = (desc: string) =>
  z
    .string()
    .refine((s) => s === "" || hostPortCheck.safeParse(s).success, { message: 'must be host:port, e.g. 0.0.0.0:1883 or [::1]:1883, or "" to disable the listener' })
    .describe(desc);

export const mqttTlsSchema = z
  .strictObject({
    listen: optionalListen("Address of the MQTT-over-TLS listener; \"\" disables it (the certificate can still serve `mqtt.websocket.tls`).").default(""),
    cert_file: filePath("Server certificate (PEM, may include the chain), relative to the config file."),
    key_file: filePath("Private key of cert_file (PEM)."),
    client_ca_file: filePath("CA certificate(s) (PEM) that client certificates are verified against; without it client certificates are not requested.").optional(),
    require_certificate: z.boolean().default(false).describe("true: a client without a certificate signed by client_ca_file is refused during the TLS handshake (Mosquitto's require_certificate)."),
    use_identity_as_username: z
      .boolean()
      .default(false)
      .describe("true: the client certificate's subject CN is the device identity (used for `%u` in the ACL); no password needed. Implies require_certificate (Mosquitto's use_identity_as_username)."),
    min_version: z.enum(TLS_VERSIONS).default("TLS12").describe("Lowest TLS version accepted."),
  })
  .describe("MQTT over TLS (optional), with client-certificate identity.");

export const mqttWebsocketSchema = z
  .strictObject({
    listen: optionalListen("Address of the MQTT-over-WebSocket listener (path /mqtt); \"\" disables it."),
    tls: z.boolean().default(false).describe("true: wss, with mqtt.tls's certificate and client-certificate rules (mqtt.tls must be set)."),
  })
  .describe("MQTT over WebSocket at path /mqtt (optional), for browsers and clients behind HTTP proxies.");

export const mqttAuthSchema = z
  .strictObject({
    allow_anonymous: z
      .boolean()
      .optional()
      .describe(
        "Accept clients that present no verified identity. Unset means false, as in Mosquitto 2, except on a broker that only listens on loopback and has no password_file or certificate identity (Mosquitto 2's local-only mode), where it means true. Without a password_file a user name proves nothing, so such clients count as anonymous.",
      ),
    password_file: filePath(
      "Mosquitto password file (`user:$7$…` PBKDF2-SHA512 or `$6$` SHA-512 lines, as written by `mosquitto_passwd` or `edgegate passwd`); re-read when it changes, a bad file keeps the previous users.",
    )
      .optional()
      .meta({ example: "devices.passwd" }),
    acl_file: filePath(
      "Mosquitto ACL file: `user NAME`, `topic [read|write|readwrite|deny] FILTER`, `pattern [read|write|readwrite|deny] FILTER` with `%u` (identity) and `%c` (client id); lines before the first `user` apply to anonymous clients; no match = denied. Absent: every client may publish and subscribe everywhere (except `$SYS`). Re-read when it changes.",
    )
      .optional()
      .meta({ example: "devices.acl" }),
  })
  .describe("Device authentication and authorisation (Mosquitto's options and file formats).");

export const CLIENT_AUTH_TYPES = ["NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] as const;

export const httpTlsSchema = z
  .strictObject({
    cert_file: filePath("Server certificate (PEM), relative to the config file."),
    key_file: filePath("Private key of cert_file (PEM)."),
    client_ca_file: filePath("CA certificate(s) (PEM) client certificates are verified against.").optional(),
    client_auth_type: z.enum(CLIENT_AUTH_TYPES).default("NoClientCert").describe("Client-certificate policy, with Go's crypto/tls names as in Prometheus's web config."),
    min_version: z.enum(TLS_VERSIONS).default("TLS12").describe("Lowest TLS version accepted."),
  })
  .describe("Serve HTTPS (Prometheus web config `tls_server_config`).");

export const basicAuthUsersSchema = z
  .record(
    z.string().min(1),
    z
      .string()
      .regex(/^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/, "must be a bcrypt hash (e.g. from `htpasswd -nbB user pass`)"),
  )
  .optional()
  .describe("Users allowed on the operators' endpoints (everything except /-/healthy, /-/ready and /api/v1/push), user → bcrypt hash, as in Prometheus's web config `basic_auth_users`.");

export const pushSchema = z
  .strictObject({
    rate_limit: z.number().positive().default(50).describe("Messages per second each identity may push (token bucket; beyond it 429 with Retry-After)."),
    burst: z.number().int().positive().default(100).describe("Bucket size: messages an identity may push at once after being idle."),
  })
  .describe("`POST /api/v1/push/<topic>`: device messages over HTTP, authenticated with the password file and authorised by the ACL like an MQTT publish.");


/**
 * Mosquitto 2's safe default, as a config check: an MQTT listener other hosts
 * can reach needs an authentication method, or an explicit
 * `allow_anonymous: true`. Also the cross-key rules of the TLS options.
 */
export function mqttSecurityProblems(m: MqttSecurityView): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  if (m.tls && (m.tls.require_certificate || m.tls.use_identity_as_username) && !m.tls.client_ca_file) {
    out.push({ path: ["tls", "client_ca_file"], message: "required when require_certificate or use_identity_as_username is true (the CA that signs device certificates)" });
  }
  if (m.websocket?.tls && !m.tls) out.push({ path: ["websocket", "tls"], message: "true needs mqtt.tls (cert_file, key_file) for the certificate" });
  const exposed = exposedListeners(m);
  if (exposed.length > 0 && !hasAuthMethod(m) && m.auth.allow_anonymous !== true) {
    out.push({
      path: ["auth"],
      message:
        `${exposed.join(", ")} can be reached from other hosts but no device authentication is configured. ` +
        "Set mqtt.auth.password_file (user/password devices; create it with `edgegate passwd -c FILE USER`), " +
        "or mqtt.tls.client_ca_file with mqtt.tls.use_identity_as_username: true (client certificates), " +
        "or mqtt.auth.allow_anonymous: true to accept anyone (trusted lab networks only), " +
        "or listen on 127.0.0.1",
    });
  }
  return out;
}

export function httpSecurityProblems(h: { tls_server_config?: { client_ca_file?: string; client_auth_type: string } }): { path: (string | number)[]; message: string }[] {
  const t = h.tls_server_config;
  if (t && (t.client_auth_type === "VerifyClientCertIfGiven" || t.client_auth_type === "RequireAndVerifyClientCert") && !t.client_ca_file) {
    return [{ path: ["tls_server_config", "client_ca_file"], message: `required when client_auth_type is ${t.client_auth_type}` }];
  }
  return [];
}
