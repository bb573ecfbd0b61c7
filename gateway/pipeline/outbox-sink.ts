import type { Logger } from "pino";
import type { Metrics } from "../metrics/catalogue.js";
import type { Outbox, QueueBatches } from "../outbox/outbox.js";
import { queueName } from "../outbox/queues.js";
import { encodeWriteRequest, snappyCompress, splitBatches, toTimeSeries, type TimeSeries } from "../remote-write/codec.js";
import { splitByShard } from "../remote-write/shard.js";
import type { RelabelConfig } from "../config/schema-relabel.js";
import { RelabelStage } from "./relabel/relabel-stage.js";
import type { Sample } from "./sample.js";

export interface SinkTarget {
  name: string;
  maxSamplesPerSend: number;
  /** remote_write[].queue_config.shards (default 1): each series goes to the queue of its shard (shard.ts). */
  shards?: number;
  /** remote_write[].write_relabel_configs: relabelling for this target only, before encoding. */
  writeRelabelConfigs?: readonly RelabelConfig[];
}

/**
 * What one group of targets receives: the samples as they leave the pipeline
 * (every target without write_relabel_configs shares this view, so they are
 * encoded once), or one target's write-relabelled copy. Each view has its own
 * order guard, because relabelling can merge series.
 */
interface View {
  relabel: RelabelStage | null;
  targets: SinkTarget[];
  lastTs: Map<string, number>;
}

/** [view index, series key, timestamp]: an order-guard move waiting for its transaction. */
type OrderUpdate = [number, string, number];

/** What `flushAtomic` wrote, waiting for the caller's transaction. */
export interface PendingFlush {
  readonly updates: readonly OrderUpdate[];
  committed(): void;
  rolledBack(): void;
}

function seriesKey(s: TimeSeries): string {
  let key = "";
  for (const l of s.labels) key += l.name + "\u0000" + l.value + "\u0000";
  return key;
}

/**
 * The end of the pipeline: buffers samples for up to `storage.flush_interval`
 * (or until `maxBuffered` samples), then encodes them as Remote-Write batches
 * and commits them to the outbox in one transaction per target. Batching the
 * commits is what makes `synchronous=FULL` affordable.
 *
 * It also keeps each series' timestamps strictly increasing across everything
 * it has committed (Remote-Write 1.0: samples of a series MUST be sent in
 * order). A receiver rejects a whole request for one out-of-order sample, so a
 * late raw sample would otherwise poison a batch of good ones; it is dropped
 * here instead and counted as reason="out_of_order".
 */
export class OutboxSink {
  private buffer: Sample[] = [];
  private readonly views: View[] = [];
  private readonly maxTracked = 1_000_000;

  constructor(
    private readonly outbox: Outbox,
    targets: readonly SinkTarget[],
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly maxBuffered = 100_000,
  ) {
    const shared: View = { relabel: null, targets: [], lastTs: new Map() };
    for (const t of targets) {
      const rules = t.writeRelabelConfigs ?? [];
      if (rules.length === 0) shared.targets.push(t);
      else {
        const onDrop = (reason: string, n: number) => this.metrics.samplesDropped.inc({ reason }, n);
        this.views.push({ relabel: new RelabelStage(rules, onDrop, "write_relabel_drop"), targets: [t], lastTs: new Map() });
      }
    }
    if (shared.targets.length > 0) this.views.unshift(shared);
  }

  write(samples: Sample[]): void {
    for (const s of samples) this.buffer.push(s);
    if (this.buffer.length >= this.maxBuffered) this.flush();
  }

  pending(): number {
    return this.buffer.length;
  }

  /** Distinct series the order guard remembers (≈ series sent recently). */
  trackedSeries(): number {
    let n = 0;
    for (const v of this.views) n += v.lastTs.size;
    return n;
  }

  /** Encodes and commits everything buffered. Never throws: a failed commit is counted and logged. */
  flush(): void {
    if (this.buffer.length === 0) return;
    const samples = this.buffer;
    this.buffer = [];
    for (const view of this.views) this.flushView(view, view.relabel ? view.relabel.processCopy(samples) : samples, null);
  }

  /**
   * All or nothing, for a caller that commits the outbox rows together with
   * the journal position they cover (`Outbox.atomically`): on a failed
   * append it throws and keeps the buffer and the order guard as they were,
   * so the same samples are committed by a later call. Nothing is dropped.
   * The caller calls `committed()` after its transaction commits (or
   * `rolledBack()` when it failed after this returned).
   */
  flushAtomic(): PendingFlush {
    const samples = this.buffer;
    const updates: OrderUpdate[] = [];
    this.buffer = [];
    const rolledBack = () => {
      this.buffer = samples.concat(this.buffer);
    };
    try {
      if (samples.length > 0) this.views.forEach((view, i) => this.flushView(view, view.relabel ? view.relabel.processCopy(samples) : samples, updates, i));
    } catch (err) {
      rolledBack();
      throw err;
    }
    // The caller's transaction decides: the order guard moves on only once the rows are committed.
    return {
      updates,
      committed: () => {
        for (const [i, key, ts] of updates) this.views[i]!.lastTs.set(key, ts);
      },
      rolledBack,
    };
  }

  /**
   * Journal replay of messages whose samples the outbox already holds: only
   * the order guard learns them, so a device's re-sent duplicate of one is
   * still recognised.
   */
  remember(samples: Sample[]): void {
    for (const view of this.views) {
      const { series } = toTimeSeries(view.relabel ? view.relabel.processCopy(samples) : samples);
      for (const s of series) {
        const last = s.samples[s.samples.length - 1];
        if (last === undefined) continue;
        const key = seriesKey(s);
        const prev = view.lastTs.get(key);
        if (prev === undefined || last.timestamp > prev) view.lastTs.set(key, last.timestamp);
      }
    }
  }

  /** The order guard (last committed timestamp per series and view), for checkpoints, with a pending flush's moves applied. */
  orderState(pending?: PendingFlush): [string, number][][] {
    const maps = this.views.map((v) => new Map(v.lastTs));
    for (const [i, key, ts] of pending?.updates ?? []) maps[i]!.set(key, ts);
    return maps.map((m) => [...m]);
  }

  restoreOrderState(state: [string, number][][]): void {
    this.views.forEach((v, i) => {
      v.lastTs.clear();
      for (const [k, ts] of state[i] ?? []) v.lastTs.set(k, ts);
    });
  }

  private flushView(view: View, samples: Sample[], updates: OrderUpdate[] | null, viewIndex = 0): void {
    const { series, invalid } = toTimeSeries(samples);
    if (invalid > 0) this.metrics.samplesDropped.inc({ reason: "missing_metric_name" }, invalid);
    const ordered = this.enforceOrder(series, view.lastTs, updates, viewIndex);
    if (ordered.length === 0) return;
    let total = 0;
    for (const s of ordered) total += s.samples.length;

    // Encoded once per (max_samples_per_send, shards): per shard, its batches.
    const encoded = new Map<string, QueueBatches["batches"][]>();
    for (const target of view.targets) {
      const shards = target.shards ?? 1;
      const key = `${target.maxSamplesPerSend}/${shards}`;
      let perShard = encoded.get(key);
      if (!perShard) {
        perShard = (shards > 1 ? splitByShard(ordered, shards) : [ordered]).map((part) =>
          splitBatches(part, target.maxSamplesPerSend).map((b) => ({
            payload: snappyCompress(encodeWriteRequest(b)),
            samples: b.reduce((n, s) => n + s.samples.length, 0),
          })),
        );
        encoded.set(key, perShard);
      }
      try {
        // One transaction for all shards of the target.
        this.outbox.appendQueues(target.name, perShard.map((batches, k) => ({ queue: queueName(target.name, k, shards), batches })));
        this.metrics.samplesOut.inc({ target: target.name }, total);
      } catch (err) {
        if (updates !== null) throw err;
        // e.g. SQLITE_FULL: ingest keeps running; the loss is counted, never silent.
        this.metrics.samplesDropped.inc({ reason: "outbox_write_failed" }, total);
        this.log.error({ err, target: target.name, samples: total }, "could not commit batch to the outbox");
      }
    }
  }

  private enforceOrder(series: TimeSeries[], lastTs: Map<string, number>, updates: OrderUpdate[] | null, viewIndex: number): TimeSeries[] {
    const out: TimeSeries[] = [];
    let dropped = 0;
    let duplicates = 0;
    if (lastTs.size > this.maxTracked) lastTs.clear(); // bounded; the receiver is the last line of defence
    for (const s of series) {
      const key = seriesKey(s);
      const last = lastTs.get(key);
      let samples = s.samples;
      if (last !== undefined && samples.length > 0 && samples[0]!.timestamp <= last) {
        samples = samples.filter((p) => p.timestamp > last);
        // Same series and timestamp as the last one committed: a duplicate (a device's re-send), as Prometheus treats it.
        for (const p of s.samples) if (p.timestamp === last) duplicates++;
        dropped += s.samples.length - samples.length;
      }
      if (samples.length === 0) continue;
      if (updates === null) lastTs.set(key, samples[samples.length - 1]!.timestamp);
      else updates.push([viewIndex, key, samples[samples.length - 1]!.timestamp]);
      out.push(samples === s.samples ? s : { labels: s.labels, samples });
    }
    if (duplicates > 0) this.metrics.samplesDropped.inc({ reason: "duplicate" }, duplicates);
    if (dropped > duplicates) this.metrics.samplesDropped.inc({ reason: "out_of_order" }, dropped - duplicates);
    return out;
  }
}
