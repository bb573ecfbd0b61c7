import { readFileSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type SecureVersion, type TLSSocket } from "node:tls";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import type { WebSocketServer } from "ws";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { formatListen, parseListen } from "../config/listen-address.js";
import type { ConnInfo } from "./auth/device-auth.js";

export type Transport = ConnInfo["transport"];

/** One bound listener, as reported in /api/v1/status and the start-up log. */
export interface ListenerStatus {
  transport: Transport;
  listen: string;
  client_certificates?: "none" | "optional" | "required";
}

/** Hands a connected stream (with how it arrived) to the broker. */
export type Accept = (stream: Duplex, info: ConnInfo, req?: IncomingMessage) => void;

const TLS_VERSIONS: Record<string, SecureVersion> = { TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3" };

type MqttTls = NonNullable<Config["mqtt"]["tls"]>;

/** node:tls options from mqtt.tls (Mosquitto's certfile/keyfile/cafile/require_certificate). */
export function mqttTlsOptions(tls: MqttTls) {
  const requireCert = tls.require_certificate || tls.use_identity_as_username;
  return {
    cert: readFileSync(tls.cert_file),
    key: readFileSync(tls.key_file),
    ca: tls.client_ca_file ? readFileSync(tls.client_ca_file) : undefined,
    requestCert: tls.client_ca_file !== undefined,
    // A certificate that is absent or not signed by the CA fails the handshake when one is required.
    rejectUnauthorized: requireCert,
    minVersion: TLS_VERSIONS[tls.min_version],
  };
}

/** The verified client certificate's subject CN, or null (no certificate, or not signed by the CA). */
export function certIdentity(socket: TLSSocket): string | null {
  if (!socket.authorized) return null;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return typeof cn === "string" && cn !== "" ? cn : Array.isArray(cn) ? (cn[0] ?? null) : null;
}

function certPolicy(tls: MqttTls): "none" | "optional" | "required" {
  if (!tls.client_ca_file) return "none";
  return tls.require_certificate || tls.use_identity_as_username ? "required" : "optional";
}

async function listenOn(server: NetServer | HttpServer, listen: string): Promise<string> {
  const { host, port } = parseListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  return a && typeof a !== "string" ? formatListen(a.address, a.port) : listen;
}

/**
 * The broker's transports, each optional: plain TCP (`mqtt.listen`), TLS
 * (`mqtt.tls.listen`) and WebSocket at /mqtt (`mqtt.websocket.listen`, wss with
 * `tls: true`). Each is a separate server; close() stops them all.
 */
export class Listeners {
  private readonly servers: (NetServer | HttpServer)[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly wss: WebSocketServer[] = [];
  private readonly bound: ListenerStatus[] = [];

  constructor(
    private readonly mqtt: Config["mqtt"],
    private readonly accept: Accept,
    private readonly log: Logger,
  ) {}

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
  }

  async start(): Promise<void> {
    const { mqtt } = this;
    if (mqtt.listen !== "") {
      const server = createNetServer((socket) => {
        this.track(socket);
        this.accept(socket, { transport: "tcp", certIdentity: null });
      });
      this.servers.push(server);
      this.bound.push({ transport: "tcp", listen: await listenOn(server, mqtt.listen) });
    }
    const tlsOpts = mqtt.tls ? mqttTlsOptions(mqtt.tls) : null;
    if (mqtt.tls && tlsOpts && mqtt.tls.listen !== "") {
      const server = createTlsServer(tlsOpts, (socket) => {
        this.track(socket);
        this.accept(socket, { transport: "tls", certIdentity: certIdentity(socket) });
      });
      // A failed handshake (no or untrusted certificate, old TLS version) is the client's problem, not ours.
      server.on("tlsClientError", (err) => this.log.debug({ err: err.message }, "mqtt tls handshake failed"));
      this.servers.push(server);
      this.bound.push({ transport: "tls", listen: await listenOn(server, mqtt.tls.listen), client_certificates: certPolicy(mqtt.tls) });
    }
    const ws = mqtt.websocket;
    if (ws && ws.listen !== "") {
      const secure = ws.tls && tlsOpts !== null;
      const http = secure ? createHttpsServer(tlsOpts!) : createHttpServer();
      http.on("connection", (s: Socket) => this.track(s));
      if (secure) http.on("tlsClientError", (err: Error) => this.log.debug({ err: err.message }, "mqtt wss handshake failed"));
      // Loaded only when a WebSocket listener is configured: ~3 MB of RSS a TCP-only gateway does not pay.
      const { WebSocketServer, createWebSocketStream } = await import("ws");
      const wss = new WebSocketServer({
        server: http,
        path: "/mqtt",
        // MQTT over WebSocket names its subprotocol "mqtt" (MQTT 3.1.1 section 6).
        handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : protocols.has("mqttv3.1") ? "mqttv3.1" : false),
      });
      wss.on("connection", (socket, req) => {
        const stream = createWebSocketStream(socket);
        stream.on("error", () => socket.terminate());
        const tlsSocket = req.socket as TLSSocket;
        this.accept(stream, { transport: secure ? "wss" : "ws", certIdentity: secure ? certIdentity(tlsSocket) : null }, req);
      });
      this.wss.push(wss);
      this.servers.push(http);
      this.bound.push({ transport: secure ? "wss" : "ws", listen: await listenOn(http, ws.listen), ...(secure ? { client_certificates: certPolicy(mqtt.tls!) } : {}) });
    }
  }

  status(): ListenerStatus[] {
    return this.bound.map((b) => ({ ...b }));
  }

  /** Stops accepting and drops every connection. Idempotent. */
  async close(): Promise<void> {
    for (const w of this.wss) for (const c of w.clients) c.terminate();
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of this.sockets) s.destroy();
    for (const w of this.wss) w.close();
    this.servers.length = 0;
    this.wss.length = 0;
    await Promise.all(closed);
  }
}
