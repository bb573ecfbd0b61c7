/**
 * One vehicle's side of the uplink: its backlog, its MQTT connection and the
 * link model that says whether it has coverage. Readings always enter the
 * backlog and leave it oldest first, so a vehicle's messages reach the broker
 * in time order, and a backlog replayed after an outage keeps the readings'
 * own timestamps.
 *
 * Delivery is at-least-once: a message is done when the broker acknowledged it
 * (QoS 1) or it was written to the socket (QoS 0). When the connection drops
 * with messages unacknowledged, their readings go back to the front of the
 * backlog and are sent again (the broker may then see them twice: exactly as a
 * real unit behaves; simulated outages avoid this by waiting for in-flight
 * acks before dropping the link, see `setCoverage`).
 */
import { Backlog } from "./backlog.js";
import { Link, type LinkOptions } from "./link.js";
import type { LinkModel } from "./connectivity.js";
import { encodeReadings, readingTime, type PayloadMode, type Reading } from "./payloads.js";

export interface Delivery {
  vehicle: string;
  topic: string;
  payload: string | Uint8Array;
  readings: readonly Reading[];
}

export interface VehicleLinkOptions {
  id: string;
  topic: string;
  mode: PayloadMode;
  qos: 0 | 1;
  batchSize: number;
  replayBatch: number;
  bufferSize: number;
  maxInflight: number;
  model: LinkModel;
  link: Omit<LinkOptions, "clientId" | "onConnect" | "onClose" | "onError">;
  onDelivered: (d: Delivery) => void;
  onError: (err: Error) => void;
  /** After every ack and every drop of the connection: lets the fleet notice "all sent". */
  onSettled: () => void;
}

export class VehicleLink {
  readonly backlog: Backlog<Reading>;
  readonly link: Link;
  /** Coverage per the link model (or forced online while the fleet drains). */
  covered = true;
  /** Flush partially filled batches (end of run). */
  flushing = false;
  /** flink-batch: a partial batch whose oldest event is at or before this wall time goes out now (set by the fleet's age check). */
  private ageCutoff = -Infinity;
  private readonly inflight = new Map<number, Reading[]>();
  private seq = 0;
  private firstConnect: ((err?: Error) => void) | undefined;

  constructor(private readonly o: VehicleLinkOptions) {
    this.backlog = new Backlog(o.bufferSize);
    this.link = new Link({
      ...o.link,
      clientId: o.id,
      onConnect: () => {
        this.firstConnect?.();
        this.firstConnect = undefined;
        this.pump();
      },
      onClose: () => this.requeueInflight(),
      onError: (err) => {
        // MQTT's CONNACK refusal codes (1–5, [MQTT-3.2.2-5]) are numbers; retrying will not help the first connect.
        if (typeof (err as Error & { code?: unknown }).code === "number") this.firstConnect?.(err);
        o.onError(err);
      },
    });
  }

  get id(): string {
    return this.o.id;
  }

  get inflightMessages(): number {
    return this.inflight.size;
  }

  /** True when nothing is buffered or in flight. */
  get idle(): boolean {
    return this.backlog.length === 0 && this.inflight.size === 0;
  }

  /** Connects; resolves on CONNACK, rejects on a refusal (network errors keep retrying: the caller sets the deadline). */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstConnect = (err) => (err ? reject(err) : resolve());
      this.link.up();
    });
  }

  /** Takes a reading (at wall time t): buffered, then sent as soon as coverage and the in-flight bound allow. */
  add(reading: Reading, t: number): void {
    this.setCoverage(this.o.model.onlineAt(t));
    this.backlog.push(reading);
    this.pump();
  }

  /**
   * Coverage changes drive the connection: losing coverage drops the TCP
   * connection abruptly (no DISCONNECT, as in a tunnel) once in-flight
   * messages are acknowledged; regaining it reconnects with backoff.
   */
  setCoverage(online: boolean): void {
    this.covered = online;
    if (online) this.link.up();
    else if (this.inflight.size === 0) this.link.down();
  }

  /** Takes the link down from wall time t for durationMs through the link model, exactly as a scheduled outage. */
  forceOffline(t: number, durationMs: number): void {
    this.o.model.force(t, durationMs);
    this.setCoverage(this.o.model.onlineAt(t));
  }

  pump(): void {
    if (!this.covered) {
      if (this.inflight.size === 0) this.link.down();
      return;
    }
    const mode = this.o.mode;
    while (this.link.connected && this.inflight.size < this.o.maxInflight && this.backlog.length > 0) {
      let n: number;
      if (mode === "flink-events") n = 1;
      else if (mode === "batch" || mode === "flink-batch") {
        if (this.backlog.length < this.o.batchSize && !this.flushing && !(readingTime(this.backlog.peek()!) <= this.ageCutoff)) return;
        n = this.backlog.length > this.o.batchSize ? this.o.replayBatch : this.o.batchSize;
      } else n = this.o.replayBatch;
      this.send(this.backlog.take(n));
    }
  }

  /**
   * flink-batch's time bound: sends the partial batch if its oldest event is
   * at or before wall time `cutoff` (a unit that flushes on size or age).
   * Returns the oldest event time still waiting (NaN when nothing waits), so the fleet can re-check it later.
   */
  flushOlderThan(cutoff: number): number {
    this.ageCutoff = cutoff;
    this.pump();
    this.ageCutoff = -Infinity;
    const head = this.backlog.peek();
    return head === undefined ? NaN : readingTime(head);
  }

  private send(readings: Reading[]): void {
    const seq = ++this.seq;
    const payload = encodeReadings(this.o.mode, readings);
    this.inflight.set(seq, readings);
    this.link.publish(this.o.topic, payload, this.o.qos, (err) => {
      // Already put back by requeueInflight when the connection dropped.
      if (this.inflight.get(seq) !== readings) return;
      this.inflight.delete(seq);
      if (err) {
        this.o.onError(err);
        this.backlog.unshift(readings);
      } else {
        this.o.onDelivered({ vehicle: this.o.id, topic: this.o.topic, payload, readings });
      }
      this.pump();
      this.o.onSettled();
    });
  }

  private requeueInflight(): void {
    if (this.inflight.size > 0) {
      const readings: Reading[] = [];
      for (const r of this.inflight.values()) readings.push(...r); // Map order = send order
      this.inflight.clear();
      this.backlog.unshift(readings);
    }
    this.o.onSettled();
  }
}
