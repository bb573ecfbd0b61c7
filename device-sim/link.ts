/**
 * One vehicle's MQTT 3.1.1 connection, with the reconnect policy of a
 * telematics unit: capped exponential backoff with full jitter (so 10,000
 * vehicles leaving a dead zone together do not reconnect in one SYN storm).
 * Each attempt is a fresh MQTT.js client with its own reconnect disabled, so
 * the fleet, not MQTT.js, decides what happens to unacknowledged publishes.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** false = accept any server certificate (`--insecure`). */
  rejectUnauthorized: boolean;
}

export interface LinkOptions {
  url: string;
  clientId: string;
  /** MQTT clean session; false = persistent session [MQTT-3.1.2-4]. */
  clean: boolean;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  connectTimeoutMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  onConnect: () => void;
  /** The connection went away (refused, dropped, or taken down); `wasUp` = it had connected. */
  onClose: (wasUp: boolean) => void;
  onError: (err: Error) => void;
}

export class Link {
  private client: MqttClient | undefined;
  private want = false;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  connected = false;
  /** Connections made after the first one. */
  reconnects = 0;
  private everConnected = false;
  private cachedTopic: string | undefined;
  private cachedPrefix: Buffer | undefined;

  constructor(private readonly o: LinkOptions) {}

  /** Connect (now, or after the current backoff) and stay connected. */
  up(): void {
    this.want = true;
    if (this.client === undefined && this.retry === undefined) this.open();
  }

  /** Drop the connection abruptly, as a tunnel does (no DISCONNECT packet), and stay down until up(). */
  down(): void {
    this.want = false;
    clearTimeout(this.retry);
    this.retry = undefined;
    const c = this.client;
    if (c === undefined) return;
    c.stream?.destroy();
    c.end(true);
  }

  publish(topic: string, payload: string | Uint8Array, qos: 0 | 1, cb: (err?: Error) => void): void {
    const c = this.client;
    if (c === undefined || !this.connected) return cb(new Error("not connected"));
    if (qos === 0 && c.stream !== undefined) {
      // QoS 0 needs no packet id, store or acknowledgement: one pre-framed PUBLISH, one socket write.
      // MQTT.js's own path costs several writes and allocations per message, which at 100,000
      // messages/s was what kept the simulator from its schedule. Done = written to the socket.
      c.stream.write(publishPacket(this.topicPrefix(topic), payload), (err) => cb(err ?? undefined));
      return;
    }
    c.publish(topic, typeof payload === "string" ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos }, (err) => cb(err ?? undefined));
  }

  /** Graceful end (DISCONNECT after outstanding acks, or abandoned with force). */
  async close(force: boolean): Promise<void> {
    this.want = false;
    clearTimeout(this.retry);
    this.retry = undefined;
    const c = this.client;
    if (c !== undefined) await c.endAsync(force).catch(() => undefined);
  }

  /** Fixed-header-less PUBLISH prefix for a topic (its length and bytes), cached: a vehicle publishes to one topic. */
  private topicPrefix(topic: string): Buffer {
    if (this.cachedTopic !== topic) {
      const t = Buffer.from(topic, "utf8");
      const p = Buffer.allocUnsafe(2 + t.length);
      p.writeUInt16BE(t.length, 0);
      t.copy(p, 2);
      this.cachedTopic = topic;
      this.cachedPrefix = p;
    }
    return this.cachedPrefix!;
  }

  private open(): void {
    const o = this.o;
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: 4, // aedes (edgegate's broker) speaks MQTT 3.1.1
      clean: o.clean,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
      ...(o.tls?.cert ? { cert: o.tls.cert } : {}),
      ...(o.tls?.key ? { key: o.tls.key } : {}),
      ...(o.tls ? { rejectUnauthorized: o.tls.rejectUnauthorized } : {}),
    };
    const client = mqtt.connect(o.url, opts);
    this.client = client;
    let up = false;
    client.on("connect", () => {
      up = true;
      this.connected = true;
      this.attempt = 0;
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      o.onConnect();
    });
    client.on("error", (err) => o.onError(err));
    client.once("close", () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.connected = false;
      client.removeAllListeners("connect");
      client.end(true);
      o.onClose(up);
      if (this.want) this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    const cap = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Full jitter (AWS architecture blog "Exponential Backoff And Jitter").
    const delay = Math.random() * cap;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.want && this.client === undefined) this.open();
    }, delay);
  }
}

/** An MQTT 3.1.1 PUBLISH at QoS 0 ([MQTT-3.3.1]): type 3, no flags, Remaining Length, topic, payload (no packet id). */
export function publishPacket(topicPrefix: Buffer, payload: string | Uint8Array): Buffer {
  const body = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.byteLength;
  let remaining = topicPrefix.length + body;
  const header = [0x30];
  do {
    let b = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) b |= 0x80;
    header.push(b);
  } while (remaining > 0);
  const out = Buffer.allocUnsafe(header.length + topicPrefix.length + body);
  for (let i = 0; i < header.length; i++) out[i] = header[i]!;
  topicPrefix.copy(out, header.length);
  const at = header.length + topicPrefix.length;
  if (typeof payload === "string") out.write(payload, at, "utf8");
  else out.set(payload, at);
  return out;
}
