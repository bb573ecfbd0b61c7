import mqtt from "mqtt";

/**
 * A QoS 1 device as a telematics unit behaves: messages wait in its own
 * buffer, at most `window` are in flight, and after a lost connection it
 * publishes nothing new until MQTT.js has re-sent (clean: false) and got
 * PUBACKs for everything that was in flight. The last part works around
 * MQTT.js 5 clearing its message-id allocator on every CONNACK while it still
 * re-sends stored packets: a new publish could take the id of a stored one
 * and its callback would never run.
 */
export class Qos1Publisher {
  readonly client: mqtt.MqttClient;
  private readonly queue: { topic: string; payload: string; onAck: () => void; done: boolean }[] = [];
  private inFlight = 0;
  private resending = false;
  published = 0;
  acked = 0;

  constructor(url: string, clientId: string, private readonly window = 50) {
    this.client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 100, connectTimeout: 2000, keepalive: 10 });
    this.client.on("error", () => undefined); // reconnects by itself
    this.client.on("close", () => {
      if (this.inFlight > 0) this.resending = true;
    });
    this.client.on("connect", () => this.pump());
  }

  publish(topic: string, payload: string, onAck: () => void): void {
    this.queue.push({ topic, payload, onAck, done: false });
    this.pump();
  }

  /** Messages not acknowledged yet (queued or in flight). */
  pending(): number {
    return this.queue.length + this.inFlight;
  }

  end(): void {
    this.client.end(true);
  }

  private pump(): void {
    if (this.resending && this.inFlight === 0) this.resending = false;
    while (this.client.connected && !this.resending && this.inFlight < this.window && this.queue.length > 0) {
      const m = this.queue.shift()!;
      this.inFlight++;
      this.published++;
      this.client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
        this.inFlight--;
        if (err) {
          // MQTT.js dropped it (e.g. published while re-sending its store when the connection
          // closed again): the device keeps it and sends it again; a duplicate counts once.
          if (!m.done) this.queue.unshift(m);
        } else if (!m.done) {
          m.done = true;
          this.acked++;
          m.onAck();
        }
        this.pump();
      });
    }
  }
}
