import type { Duplex } from "node:stream";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import { GuardedConnection, clientErrorReason, type ConnectionEvents, type ConnectionLimits } from "./mqtt-connection-guard.js";
import { disablePacketIdCache } from "./mqtt-packet-memory.js";
import { boundedPersistence } from "./mqtt-persistence.js";
import { PersistentSessions } from "./mqtt-sessions.js";

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
  | "persistent_client_expiration"
  | "max_persistent_sessions"
>;

/**
 * The broker's bounds in one place, wired into the broker with a few calls:
 * aedes options (persistence, inflight), a guard around every client stream,
 * the connection cap over all listeners, and the refusal count of aedes's own
 * protocol checks. See docs/limits.md for the table.
 */
export class MqttLimits {
  private readonly guarded = new Set<GuardedConnection>();
  private sessions: PersistentSessions | null = null;

  constructor(
    private readonly config: MqttLimitsConfig,
    private readonly metrics: Metrics,
  ) {
    disablePacketIdCache();
  }

  /** One limits record and one pair of callbacks shared by every connection (10,000 clients need not carry 10,000 copies). */
  private shared: { limits: ConnectionLimits; events: ConnectionEvents } | undefined;

  /** Options merged into Aedes.createBroker(). */
  aedesOptions(): { persistence: object; maxInflightInbound: number } {
    const m = this.metrics;
    const c = this.config;
    const bounded = boundedPersistence(
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
      );
    this.sessions?.close();
    this.sessions = new PersistentSessions(
      { expiration: c.persistent_client_expiration, maxSessions: c.max_persistent_sessions },
      {
        remove: (id) => void bounded.removeSession(id),
        removed: (reason) => m.mqttSessionsRemoved.inc({ reason }),
        level: (n) => m.mqttPersistentSessions.set(n),
      },
    );
    return {
      persistence: bounded.persistence,
      // aedes's bound on QoS 2 PUBLISHes awaiting PUBREL; 0 would disable it, which is what our 0 means too.
      maxInflightInbound: c.max_inflight_messages,
    };
  }

  /** A client completed its CONNECT (aedes "client" event): a clean_session=0 one creates or resumes its session. */
  onClient(client: { id: string; clean: boolean }): void {
    this.sessions?.connected(client.id, client.clean);
  }

  /** A client went away (aedes "clientDisconnect"): a persistent session starts its offline time. */
  onClientDisconnect(client: { id: string; clean: boolean }): void {
    this.sessions?.disconnected(client.id, client.clean);
  }

  /** Stops the session-expiration timer. */
  close(): void {
    this.sessions?.close();
  }

  /** Wraps a client's transport stream before aedes.handle(): packet size, message rate, unread bytes. */
  guard(transport: Duplex): Duplex {
    const m = this.metrics;
    this.shared ??= {
      limits: { maxPacketSize: this.config.max_packet_size, messageRateLimit: this.config.message_rate_limit, maxQueuedBytes: this.config.max_queued_bytes },
      events: { refused: (reason) => m.mqttRefused.inc({ reason }), rateLimited: () => m.mqttRateLimited.inc() },
    };
    const conn = new GuardedConnection(transport, this.shared.limits, this.shared.events);
    this.guarded.add(conn);
    conn.once("close", () => this.guarded.delete(conn));
    return conn;
  }

  /**
   * Admits a new client stream from any listener (TCP, TLS, WebSocket) and
   * returns it guarded, or closes it and returns null when max_connections
   * streams are already open: the cap counts every transport together.
   */
  admit(transport: Duplex): Duplex | null {
    const max = this.config.max_connections;
    if (max > 0 && this.guarded.size >= max) {
      this.metrics.mqttRefused.inc({ reason: "max_connections" });
      transport.destroy();
      return null;
    }
    return this.guard(transport);
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
