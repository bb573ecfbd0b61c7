import type { Server } from "node:net";
import type { Duplex } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import { GuardedConnection, clientErrorReason } from "./mqtt-connection-guard.js";
import { boundedPersistence } from "./mqtt-persistence.js";

export type MqttLimitsConfig = Pick<
  Config["mqtt"],
  | "max_packet_size"
  | "max_connections"
  | "max_inflight_messages"
  | "max_queued_messages"
  | "max_queued_bytes"
  | "retain_available"
  | "max_retained_messages"
  | "max_retained_bytes"
  | "message_rate_limit"
>;

/**
 * The broker's bounds in one place, wired into the broker with a few calls:
 * aedes options (persistence, inflight), a guard around every client stream,
 * the listener's connection cap, and the refusal count of aedes's own
 * protocol checks. See docs/limits.md for the table.
 */
export class MqttLimits {
  private readonly guarded = new Set<GuardedConnection>();

  constructor(
    private readonly config: MqttLimitsConfig,
    private readonly metrics: Metrics,
  ) {}

  /** Options merged into Aedes.createBroker(). */
  aedesOptions(): { persistence: object; maxInflightInbound: number } {
    const m = this.metrics;
    const c = this.config;
    return {
      persistence: boundedPersistence(
        {
          retainAvailable: c.retain_available,
          maxRetainedMessages: c.max_retained_messages,
          maxRetainedBytes: c.max_retained_bytes,
          maxQueuedMessages: c.max_queued_messages,
          maxQueuedBytes: c.max_queued_bytes,
        },
        {
          retainedRefused: (reason) => m.mqttRetainedRefused.inc({ reason }),
          queueDropped: (reason, n) => m.mqttQueueDropped.inc({ reason }, n),
          levels(retained, retainedBytes, queued, queuedBytes) {
            m.mqttRetainedMessages.set(retained);
            m.mqttRetainedBytes.set(retainedBytes);
            m.mqttQueuedMessages.set(queued);
            m.mqttQueuedBytes.set(queuedBytes);
          },
        },
      ),
      // aedes's bound on QoS 2 PUBLISHes awaiting PUBREL; 0 would disable it, which is what our 0 means too.
      maxInflightInbound: c.max_inflight_messages,
    };
  }

  /** Wraps a client's transport stream before aedes.handle(): packet size, message rate, unread bytes. */
  guard(transport: Duplex): Duplex {
    const m = this.metrics;
    const conn = new GuardedConnection(
      transport,
      { maxPacketSize: this.config.max_packet_size, messageRateLimit: this.config.message_rate_limit, maxQueuedBytes: this.config.max_queued_bytes },
      { refused: (reason) => m.mqttRefused.inc({ reason }), rateLimited: () => m.mqttRateLimited.inc() },
    );
    this.guarded.add(conn);
    conn.once("close", () => this.guarded.delete(conn));
    return conn;
  }

  /** Caps the listener's connections; a refused one is counted (net.Server emits `drop`). */
  limitServer(server: Server): void {
    if (this.config.max_connections > 0) server.maxConnections = this.config.max_connections;
    server.on("drop", () => this.metrics.mqttRefused.inc({ reason: "max_connections" }));
  }

  /** Counts the refusals aedes makes itself (a wildcard in a PUBLISH topic, ...). */
  onClientError(err: Error): void {
    const reason = clientErrorReason(err);
    if (reason !== null) this.metrics.mqttRefused.inc({ reason });
  }

  /** Updates the unread-bytes gauge (called on the gateway's tick). */
  updateGauges(): void {
    let unread = 0;
    for (const c of this.guarded) unread += c.unreadBytes;
    this.metrics.mqttSendBufferBytes.set(unread);
  }
}
