import { Duplex } from "node:stream";

/**
 * Sits between a client's transport stream (TCP, TLS, WebSocket) and aedes,
 * and enforces the per-connection bounds aedes does not have (issue 10):
 *
 * - **max_packet_size while reading.** aedes hands every byte to mqtt-packet's
 *   parser, which buffers a packet whole before anyone sees it (a 100 MB
 *   PUBLISH cost +197 MB and was PUBACKed). Here each packet's fixed header is
 *   read as it arrives ([MQTT-2.2.3]: the Remaining Length is a variable-byte
 *   integer of at most four bytes) and the connection is closed as soon as a
 *   header announces a packet above the limit, before its body is read.
 * - **message_rate_limit**, a token bucket over PUBLISH packets: above the
 *   rate the transport is not read until the bucket has refilled, so TCP flow
 *   control slows the client down and nothing it sent is lost.
 * - **max_queued_bytes for a connected client.** aedes waits for a socket's
 *   `drain` before it finishes delivering a message, so one subscriber that
 *   stops reading stalled delivery and PUBACKs for every client until the
 *   drain timeout (measured: 29,993 ms). Here every write is accepted at once
 *   (aedes never waits) and the bytes the client has not read are bounded: a
 *   client whose unread bytes exceed the limit is disconnected.
 */
export interface ConnectionLimits {
  /** 0 = no limit. */
  maxPacketSize: number;
  /** PUBLISH packets per second; 0 = no limit. */
  messageRateLimit: number;
  /** Unread bytes written to the client; 0 = no limit. */
  maxQueuedBytes: number;
}

export interface ConnectionEvents {
  /** The connection was closed by a bound (packet_too_large, malformed_packet, slow_consumer). */
  refused(reason: string): void;
  /** Reading was paused by the rate limit. */
  rateLimited(): void;
}

/** What a transport stream must offer (net.Socket, tls.TLSSocket and ws's stream all do). */
type Transport = Duplex;

/** The MQTT maximum Remaining Length (268,435,455) plus a 5-byte fixed header. */
const MQTT_MAX_PACKET = 268_435_460;
const PUBLISH = 3;

export class GuardedConnection extends Duplex {
  /** Fixed-header scanner state: 0 = expecting a type byte, 1 = reading the length, 2 = skipping the body. */
  private state = 0;
  private packetType = 0;
  private lengthBytes = 0;
  private remaining = 0;
  private multiplier = 1;
  private tokens: number;
  private lastRefill = Date.now();
  private resumeTimer: NodeJS.Timeout | null = null;
  private wantRead = true;

  constructor(
    /** The transport (exposed: a TLS peer certificate or remote address is read from it). */
    readonly transport: Transport,
    private readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
  ) {
    super({ allowHalfOpen: false });
    this.tokens = limits.messageRateLimit;
    transport.on("data", (chunk: Buffer) => this.onData(chunk));
    transport.on("end", () => this.push(null));
    transport.on("error", (err) => this.destroy(err));
    transport.on("close", () => this.destroy());
  }

  /** The client's unread bytes (the transport's write buffer). */
  get unreadBytes(): number {
    return this.transport.writableLength;
  }

  private onData(chunk: Buffer): void {
    if (this.destroyed) return;
    const reason = this.scan(chunk);
    if (reason !== null) {
      this.events.refused(reason);
      this.destroy();
      return;
    }
    if (!this.push(chunk)) {
      this.wantRead = false;
      this.transport.pause();
    }
    this.throttle();
  }

  /** Walks the packet boundaries in `chunk`; returns a refusal reason, or null. */
  private scan(chunk: Buffer): string | null {
    const max = this.limits.maxPacketSize > 0 ? this.limits.maxPacketSize : MQTT_MAX_PACKET;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 0) {
        this.packetType = chunk[i]! >> 4;
        this.state = 1;
        this.lengthBytes = 0;
        this.remaining = 0;
        this.multiplier = 1;
        i++;
      } else if (this.state === 1) {
        const b = chunk[i++]!;
        this.remaining += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (b & 0x80) {
          if (this.lengthBytes === 4) return "malformed_packet"; // [MQTT-2.2.3]: at most four bytes
          continue;
        }
        if (1 + this.lengthBytes + this.remaining > max) return "packet_too_large";
        if (this.packetType === PUBLISH && this.limits.messageRateLimit > 0) this.tokens--;
        this.state = this.remaining === 0 ? 0 : 2;
      } else {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 0;
      }
    }
    return null;
  }

  /** Refills the bucket; when it is empty, stops reading until it holds a token again. */
  private throttle(): void {
    const rate = this.limits.messageRateLimit;
    if (rate <= 0) return;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.lastRefill) * rate) / 1000);
    this.lastRefill = now;
    if (this.tokens >= 0 || this.resumeTimer !== null) return;
    this.events.rateLimited();
    this.transport.pause();
    const waitMs = Math.ceil(((1 - this.tokens) * 1000) / rate);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      if (this.destroyed) return;
      const t = Date.now();
      this.tokens = Math.min(rate, this.tokens + ((t - this.lastRefill) * rate) / 1000);
      this.lastRefill = t;
      if (this.wantRead) this.transport.resume();
    }, waitMs);
  }

  override _read(): void {
    this.wantRead = true;
    if (this.resumeTimer === null) this.transport.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.transport.destroyed) return cb();
    this.transport.write(chunk);
    const max = this.limits.maxQueuedBytes;
    if (max > 0 && this.transport.writableLength > max) {
      // A subscriber that does not read: its own loss, never everyone's stall.
      this.events.refused("slow_consumer");
      this.destroy();
    }
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.transport.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    if (!this.transport.destroyed) this.transport.destroy();
    cb(err);
  }
}

/**
 * Maps aedes's client errors to a refusal reason for
 * edgegate_mqtt_refused_total; null for an ordinary disconnect (a reset, a
 * keep-alive timeout) that refuses nothing.
 */
export function clientErrorReason(err: Error): string | null {
  const m = err.message;
  if (m.includes("is not allowed in PUBLISH")) return "wildcard_topic"; // [MQTT-3.3.2-2]
  if (m.includes("empty topic") || m.includes("too many levels")) return "invalid_topic";
  if (m.includes("maxInflightInbound")) return "max_inflight_messages";
  if (m.includes("Invalid") || m.includes("invalid") || m.includes("not valid") || m.includes("malformed")) return "protocol_error";
  return null;
}
