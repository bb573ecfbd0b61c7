import { Aedes, type Client } from "aedes";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import { parseListen } from "../config/listen-address.js";
import { DeviceAuth } from "./auth/device-auth.js";
import { Listeners, type ListenerStatus } from "./listeners.js";
import { MqttLimits, type MqttLimitsConfig } from "./mqtt-limits.js";

export interface BrokerOptions {
  /** mqtt.listen, mqtt.tls, mqtt.websocket and mqtt.auth. */
  mqtt: Config["mqtt"];
  maxPayloadBytes: number;
  /** Connection, queue and retained-message bounds (mqtt.* keys); see mqtt-limits.ts. */
  limits: MqttLimitsConfig;
  metrics: Metrics;
  log: Logger;
  /** Called synchronously for every client PUBLISH (not for the broker's own $SYS messages). */
  onMessage: (topic: string, payload: Buffer, clientId: string) => void;
  /**
   * Durable acceptance (ingest journal): when set, every client PUBLISH is
   * handed here instead of `onMessage`, from aedes's authorizePublish, and
   * aedes sends PUBACK (QoS 1) / PUBREC (QoS 2) only after the promise
   * resolves. A rejection refuses the message: no acknowledgement, and aedes
   * closes the connection (MQTT 3.1.1 has no negative PUBACK), so the device
   * keeps the message and sends it again after reconnecting.
   */
  accept?: (topic: string, payload: Buffer, clientId: string, qos: number) => Promise<void>;
}

/**
 * The embedded MQTT 3.1.1 broker (aedes). Devices publish here; other clients may
 * subscribe as to any broker. Messages reach the pipeline through aedes's
 * `published` handler, so a message is decoded before the next one is handled.
 */
export class Broker {
  private aedes: Aedes | null = null;
  private listeners: Listeners | null = null;
  /** Authentication and ACLs (also used by the HTTP push endpoint). */
  readonly auth: DeviceAuth;
  private authLoaded = false;
  private limits: MqttLimits | null = null;

  constructor(private readonly opts: BrokerOptions) {
    this.auth = new DeviceAuth(opts.mqtt, opts.metrics, opts.log);
  }

  /**
   * Loads the password and ACL files (throws when one is missing or invalid)
   * and starts watching them. The gateway calls it before the HTTP server
   * opens, so the push endpoint never answers with unloaded credentials;
   * start() calls it when nobody did. Idempotent.
   */
  loadAuth(): void {
    if (this.authLoaded) return;
    this.auth.start((id) => (this.aedes as unknown as { clients: Record<string, Client | undefined> } | null)?.clients[id]);
    this.authLoaded = true;
  }

  async start(): Promise<void> {
    const { metrics, log } = this.opts;
    const auth = this.auth;
    // Files first: a missing or invalid password/ACL file fails the start before any port opens.
    this.loadAuth();
    const limits = (this.limits = new MqttLimits(this.opts.limits, metrics));
    const accept = this.opts.accept;
    const aedes = await Aedes.createBroker({
      ...limits.aedesOptions(),
      heartbeatInterval: 60_000,
      drainTimeout: 30_000,
      preConnect: (client, packet, done) => {
        auth.preConnect(client, packet);
        done(null, true);
      },
      authenticate: (client, username, password, done) => auth.authenticate(client, username, password, done),
      // The ACL check first (synchronous), then durable acceptance: PUBACK waits for the journal commit holding the message.
      authorizePublish: (client, packet, done) => {
        const denied = client ? auth.checkPublish(client, packet) : null;
        if (denied || !client || !accept) return done(denied);
        const payload = this.admit(packet.payload);
        if (payload === null) return done(null);
        accept(packet.topic, payload, client.id, packet.qos).then(
          () => done(null),
          (e: Error) => done(e),
        );
      },
      authorizeSubscribe: (client, sub, done) => auth.authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) => auth.authorizeForward(client, packet),
    });
    aedes.published = (packet, client, done) => {
      if (client && !accept) this.handle(packet.topic, packet.payload, client.id);
      done();
    };
    aedes.on("client", () => metrics.mqttClientsConnected.set(aedes.connectedClients));
    aedes.on("clientDisconnect", () => metrics.mqttClientsConnected.set(aedes.connectedClients));
    aedes.on("client", (client) => limits.onClient(client));
    aedes.on("clientDisconnect", (client) => limits.onClientDisconnect(client));
    aedes.on("clientError", (client, err) => limits.onClientError(err));
    aedes.on("clientError", (client, err) => log.debug({ client: client?.id, err: err.message }, "mqtt client error"));
    aedes.on("connectionError", (client, err) => log.debug({ client: client?.id, err: err.message }, "mqtt connection error"));
    this.aedes = aedes;

    this.listeners = new Listeners(
      this.opts.mqtt,
      (stream, info, req) => {
        // Every transport (TCP, TLS, WebSocket) passes the same connection cap and guard:
        // packet size, message rate and unread bytes are bounded the same way on each.
        const guarded = limits.admit(stream);
        if (guarded) auth.noteConnection(aedes.handle(guarded, req), info);
      },
      log,
    );
    await this.listeners.start();
    log.info({ listen: this.address(), listeners: this.listeners.status(), auth: auth.describe() }, "mqtt broker listening");
  }

  /** Counts a received payload; null when it is dropped for its size (counted). */
  private admit(payload: Buffer | string): Buffer | null {
    const { metrics } = this.opts;
    metrics.mqttMessagesReceived.inc();
    const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    metrics.mqttBytesReceived.inc(size);
    if (size > this.opts.maxPayloadBytes) {
      metrics.messagesDropped.inc({ reason: "payload_too_large" });
      return null;
    }
    return typeof payload === "string" ? Buffer.from(payload) : payload;
  }

  private handle(topic: string, raw: Buffer | string, clientId: string): void {
    const payload = this.admit(raw);
    if (payload === null) return;
    try {
      this.opts.onMessage(topic, payload, clientId);
    } catch (err) {
      // A bug in a stage must not take the broker down with it; count and log it.
      this.opts.metrics.messagesDropped.inc({ reason: "internal_error" });
      this.opts.log.error({ err, topic }, "failed to process message");
    }
  }

  /** The first listener's bound address (plain TCP when enabled). */
  address(): { host: string; port: number } {
    const first = this.listeners?.status()[0];
    return first ? parseListen(first.listen) : { host: "", port: 0 };
  }

  listenerStatus(): ListenerStatus[] {
    return this.listeners?.status() ?? [];
  }

  /** Refreshes the broker's bounded-level gauges (the gateway's tick calls it). */
  updateGauges(): void {
    this.limits?.updateGauges();
  }

  connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /** Stops accepting connections and disconnects every client. Idempotent. */
  async close(): Promise<void> {
    const listeners = this.listeners;
    const aedes = this.aedes;
    this.listeners = null;
    this.aedes = null;
    this.auth.close();
    this.limits?.close();
    await listeners?.close();
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    this.opts.metrics.mqttClientsConnected.set(0);
  }
}
