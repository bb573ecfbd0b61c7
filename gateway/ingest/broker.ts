import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/catalogue.js";
import { parseListen } from "../config/listen-address.js";
import { MqttLimits, type MqttLimitsConfig } from "./mqtt-limits.js";

export interface BrokerOptions {
  listen: string;
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
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private limits: MqttLimits | null = null;

  constructor(private readonly opts: BrokerOptions) {}

  async start(): Promise<void> {
    const { metrics, log } = this.opts;
    const limits = (this.limits = new MqttLimits(this.opts.limits, metrics));
    const aedes = await Aedes.createBroker({ heartbeatInterval: 60_000, drainTimeout: 30_000, ...limits.aedesOptions() });
    const accept = this.opts.accept;
    if (accept) {
      const authorize = aedes.authorizePublish.bind(aedes);
      aedes.authorizePublish = (client, packet, callback) => {
        authorize(client, packet, (err) => {
          if (err || !client) return callback(err);
          const payload = this.admit(packet.payload);
          if (payload === null) return callback(null);
          accept(packet.topic, payload, client.id, packet.qos).then(
            () => callback(null),
            (e: Error) => callback(e),
          );
        });
      };
    }
    aedes.published = (packet, client, done) => {
      if (client && !accept) this.handle(packet.topic, packet.payload, client.id);
      done();
    };
    aedes.on("client", () => metrics.mqttClientsConnected.set(aedes.connectedClients));
    aedes.on("clientDisconnect", () => metrics.mqttClientsConnected.set(aedes.connectedClients));
    aedes.on("clientError", (client, err) => limits.onClientError(err));
    aedes.on("clientError", (client, err) => log.debug({ client: client?.id, err: err.message }, "mqtt client error"));
    aedes.on("connectionError", (client, err) => log.debug({ client: client?.id, err: err.message }, "mqtt connection error"));
    this.aedes = aedes;

    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      aedes.handle(limits.guard(socket));
    });
    limits.limitServer(server);
    this.server = server;
    const { host, port } = parseListen(this.opts.listen);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    log.info({ listen: this.address() }, "mqtt broker listening");
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

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === "string") return { host: "", port: 0 };
    return { host: a.address, port: a.port };
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
    const server = this.server;
    const aedes = this.aedes;
    this.server = null;
    this.aedes = null;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      await closed;
    }
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    this.opts.metrics.mqttClientsConnected.set(0);
  }
}
