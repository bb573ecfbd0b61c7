import type { Logger } from "pino";
import type { Metrics } from "../metrics/catalogue.js";
import type { Outbox, QueueBatches } from "../outbox/outbox.js";
import { queueName } from "./queue-names.js";
import { snappyCompress, type TimeSeries } from "./codec.js";
import { OrderMoves, SeriesTable } from "./series-table.js";
import { compileRelabelConfigs, relabelLabels, type CompiledRelabel, type RelabelRule } from "../prom/relabel.js";
import type { Sample } from "../prom/sample.js";
import type { DropFn } from "../metrics/drop-reasons.js";

export interface SinkTarget {
  name: string;
  maxSamplesPerSend: number;
  /** remote_write[].queue_config.shards (default 1): each series goes to the queue of its shard (shard.ts). */
  shards?: number;
  /** remote_write[].write_relabel_configs: relabelling for this target only, before encoding. */
  writeRelabelConfigs?: readonly RelabelRule[];
}


/**
 * What one group of targets receives: the samples as they leave the pipeline
 * (every target without write_relabel_configs shares this view, so they are
 * encoded once), or one target's write-relabelled copy, as Remote-Write series
 * in time order. Each view has its own order guard, because relabelling can
 * merge series: it keeps each series' timestamps strictly increasing across
 * everything the view has let through (Remote-Write 1.0: samples of a series
 * MUST be sent in order), dropping the rest as reason="out_of_order".
 * `device-sim verify` runs the same view to recompute what a target received.
 *
 * The series live in a table kept across flushes (series-table.ts): each
 * label set is encoded once, the guard's timestamp is kept with it, and a
 * flush only groups its samples by series id. At most `maxTracked` series
 * are kept (the least recently sent are forgotten first).
 */
export class SeriesView {
  private readonly rules: CompiledRelabel[];
  private table: SeriesTable;

  constructor(
    writeRelabelConfigs: readonly RelabelRule[],
    private readonly onDrop: DropFn,
    maxTracked = 1_000_000,
  ) {
    this.rules = compileRelabelConfigs(writeRelabelConfigs);
    this.table = new SeriesTable(maxTracked);
  }

  /** Config reload: continue the order guard (and the series table) of the view this one replaces. */
  adoptOrder(previous: SeriesView): void {
    this.table = previous.table;
  }

  /** Distinct series the order guard remembers (≈ series sent recently). */
  get tracked(): number {
    return this.table.tracked;
  }

  /** Fresh moves for `take`/`group` (see there). */
  newMoves(): OrderMoves {
    return new OrderMoves(this.table.generation);
  }

  /**
   * write_relabel_configs (on copies: views share the input), then grouping into series, then the order guard.
   * With `moves`, the guard does not move yet: each series' new last timestamp is put there, for
   * `commit()` once the caller's transaction has committed the rows.
   */
  take(samples: readonly Sample[], moves?: OrderMoves): TimeSeries[] {
    this.group(samples, moves);
    return this.table.timeSeries();
  }

  /**
   * `take` without building TimeSeries: the flush stays in the table, for `encode`
   * (until the next take/group/remember). Returns the samples let through.
   */
  group(samples: readonly Sample[], moves?: OrderMoves): number {
    const r = this.table.group(this.relabel(samples), moves);
    if (r.invalid > 0) this.onDrop("missing_metric_name", r.invalid);
    // Two samples of one series at one timestamp in a flush: the same event as a re-sent duplicate.
    if (r.duplicates > 0) this.onDrop("duplicate", r.duplicates);
    // Same series and timestamp as the last one committed: a duplicate (a device's re-send), as Prometheus treats it.
    if (r.guardDuplicates > 0) this.onDrop("duplicate", r.guardDuplicates);
    if (r.outOfOrder > 0) this.onDrop("out_of_order", r.outOfOrder);
    return this.table.outSamples;
  }

  /** The last `group`'s series as WriteRequest bodies, per shard, batches of at most `maxSamples` (see SeriesTable.encode). */
  encode<T>(maxSamples: number, shards: number, finish: (body: Uint8Array, samples: number) => T): T[][] {
    return this.table.encode(maxSamples, shards, finish);
  }

  /** Applies the moves of a `take(…, moves)` whose rows were committed. */
  commit(moves: OrderMoves): void {
    this.table.commit(moves);
  }

  /**
   * Journal replay of messages whose samples the outbox already holds: only
   * the order guard learns them, so a device's re-sent duplicate of one is
   * still recognised.
   */
  remember(samples: readonly Sample[]): void {
    this.table.remember(this.relabel(samples));
  }

  /** The order guard (last committed timestamp per series), for checkpoints, with pending moves applied. */
  orderState(moves?: OrderMoves): [string, number][] {
    return this.table.orderState(moves);
  }

  restoreOrderState(state: readonly [string, number][]): void {
    this.table.restoreOrderState(state);
  }

  private relabel(samples: readonly Sample[]): Sample[] {
    if (this.rules.length === 0) return samples as Sample[];
    const out: Sample[] = [];
    let dropped = 0;
    let invalid = 0;
    for (const s of samples) {
      const labels = relabelLabels(s.labels, this.rules);
      if (labels === "dropped") dropped++;
      else if (labels === "invalid_name") invalid++;
      else out.push({ labels, value: s.value, timestamp: s.timestamp });
    }
    if (dropped > 0) this.onDrop("write_relabel_drop", dropped);
    if (invalid > 0) this.onDrop("relabel_invalid_metric_name", invalid);
    return out;
  }
}

/** What `flushAtomic` wrote, waiting for the caller's transaction. */
export interface PendingFlush {
  /** Per view: the order guard's moves. */
  readonly moves: readonly OrderMoves[];
  committed(): void;
  rolledBack(): void;
}

interface View {
  series: SeriesView;
  targets: SinkTarget[];
}


/**
 * The end of the pipeline: buffers samples for up to `storage.flush_interval`
 * (or until `maxBuffered` samples), then encodes them as Remote-Write batches
 * and commits them to the outbox in one transaction per target. Batching the
 * commits is what makes `synchronous=FULL` affordable.
 *
 * It also keeps each series' timestamps strictly increasing across everything
 * it has committed (SeriesView). A receiver rejects a whole request for one
 * out-of-order sample, so a late raw sample would otherwise poison a batch of
 * good ones; it is dropped here instead and counted as reason="out_of_order".
 */
export class OutboxSink {
  private buffer: Sample[] = [];
  private readonly views: View[] = [];

  constructor(
    private readonly outbox: Outbox,
    targets: readonly SinkTarget[],
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly maxBuffered = 100_000,
  ) {
    const onDrop: DropFn = (reason, n) => this.metrics.samplesDropped.inc({ reason }, n);
    const shared: View = { series: new SeriesView([], onDrop), targets: [] };
    for (const t of targets) {
      const rules = t.writeRelabelConfigs ?? [];
      if (rules.length === 0) shared.targets.push(t);
      else this.views.push({ series: new SeriesView(rules, onDrop), targets: [t] });
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

  /** Samples went to the outbox outside `flushAtomic` (the buffer's bound) since its last commit. */
  private flushedOutside = false;

  /**
   * Whether the outbox holds samples written outside `flushAtomic` since its last commit: the
   * journal position that covers them is not committed yet (a caller that commits positions
   * only with rows must commit one).
   */
  unpositioned(): boolean {
    return this.flushedOutside;
  }

  /** Distinct series the order guard remembers (≈ series sent recently). */
  trackedSeries(): number {
    let n = 0;
    for (const v of this.views) n += v.series.tracked;
    return n;
  }

  /**
   * Config reload: takes over the order guard of the sink this one replaces,
   * view by view (a view is identified by its targets' names), so a late raw
   * sample cannot slip past the guard because the sink was rebuilt.
   */
  adoptOrderState(previous: OutboxSink): void {
    const relabelled = (v: View) => v.targets.some((t) => (t.writeRelabelConfigs?.length ?? 0) > 0);
    const key = (v: View) => v.targets.map((t) => t.name).sort().join("\u0000") + (relabelled(v) ? "\u0000relabel" : "");
    const old = new Map(previous.views.map((v) => [key(v), v.series]));
    for (const v of this.views) {
      const series = old.get(key(v));
      if (series) v.series.adoptOrder(series);
      // A target that moved between views (write_relabel_configs added or removed) starts a fresh guard.
    }
  }

  /** Encodes and commits everything buffered. Never throws: a failed commit is counted and logged. */
  flush(): void {
    if (this.buffer.length === 0) return;
    const samples = this.buffer;
    this.buffer = [];
    this.flushedOutside = true;
    for (const view of this.views) this.flushView(view, samples, undefined);
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
    const moves = this.views.map((v) => v.series.newMoves());
    this.buffer = [];
    const rolledBack = () => {
      this.buffer = samples.concat(this.buffer);
    };
    try {
      if (samples.length > 0) this.views.forEach((view, i) => this.flushView(view, samples, moves[i]));
    } catch (err) {
      rolledBack();
      throw err;
    }
    // The caller's transaction decides: the order guard moves on only once the rows are committed.
    return {
      moves,
      committed: () => {
        this.flushedOutside = false;
        this.views.forEach((v, i) => v.series.commit(moves[i]!));
      },
      rolledBack,
    };
  }

  /** See SeriesView.remember. */
  remember(samples: Sample[]): void {
    for (const view of this.views) view.series.remember(samples);
  }

  /** The order guard (last committed timestamp per series and view), for checkpoints, with a pending flush's moves applied. */
  orderState(pending?: PendingFlush): [string, number][][] {
    return this.views.map((v, i) => v.series.orderState(pending?.moves[i]));
  }

  restoreOrderState(state: [string, number][][]): void {
    this.views.forEach((v, i) => v.series.restoreOrderState(state[i] ?? []));
  }

  private flushView(view: View, samples: Sample[], moves: OrderMoves | undefined): void {
    const total = view.series.group(samples, moves);
    if (total === 0) return;

    // Encoded once per (max_samples_per_send, shards): per shard, its batches.
    const encoded = new Map<string, QueueBatches["batches"][]>();
    for (const target of view.targets) {
      const shards = target.shards ?? 1;
      const key = `${target.maxSamplesPerSend}/${shards}`;
      let perShard = encoded.get(key);
      if (!perShard) {
        perShard = view.series.encode(target.maxSamplesPerSend, shards, (body, n) => ({ payload: snappyCompress(body), samples: n }));
        encoded.set(key, perShard);
      }
      try {
        // One transaction for all shards of the target.
        this.outbox.appendQueues(target.name, perShard.map((batches, k) => ({ queue: queueName(target.name, k, shards), batches })));
        this.metrics.samplesOut.inc({ target: target.name }, total);
      } catch (err) {
        if (moves !== undefined) throw err;
        // e.g. SQLITE_FULL: ingest keeps running; the loss is counted, never silent.
        this.metrics.samplesDropped.inc({ reason: "outbox_write_failed" }, total);
        this.log.error({ err, target: target.name, samples: total }, "could not commit batch to the outbox");
      }
    }
  }
}
