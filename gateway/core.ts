/**
 * The gateway's processing core and its public entry: one message → topic
 * rule → decoder → per-topic stages → pipeline stages → whatever leaves the
 * pipeline, plus the window clock (`tick`) and the aggregation checkpoint.
 * The gateway (app.ts), `device-sim verify` (which recomputes what the gateway
 * should have sent from a ledger) and the benchmarks all run this one
 * assembly, so there is no second copy to drift from the first. device-sim
 * and bench import the gateway through this module only.
 */
import type { Config } from "./config/schema.js";
import { TopicRouter } from "./ingest/topic-router.js";
import { SampleGuard } from "./ingest/sample-guard.js";
import { buildStages, type BuildDeps, type BuiltStages } from "./pipeline/build.js";
import { Pipeline } from "./pipeline/pipeline.js";
import type { AggregateStage } from "./pipeline/aggregate/aggregate-stage.js";
import { TopicStages } from "./pipeline/topic-stages.js";
import type { Sample } from "./prom/sample.js";
import { decodedHashes } from "./prom/series-hash.js";
import { SeriesView } from "./remote-write/pending-series.js";
import type { MessageDropReason } from "./metrics/drop-reasons.js";
import type { LabelValueReplacedReason } from "./metrics/limit-reasons.js";

export type { Config } from "./config/schema.js";
export { formatDuration, parseDuration } from "./prom/duration.js";
export { encodeTelemetryBatch } from "./ingest/protobuf-decoder.js";
export { seriesKey, type Labels, type Sample } from "./prom/sample.js";
export { SeriesView } from "./remote-write/pending-series.js";
export type { TimeSeries } from "./remote-write/codec.js";

export interface CoreDeps extends BuildDeps {
  /** A message dropped before decoding, e.g. reason "no_topic_rule". */
  onMessageDropped?: (reason: MessageDropReason) => void;
  /** Samples decoded (after the per-topic stages): the gateway's "samples in". */
  onSamplesIn?: (samples: number) => void;
  /** Label values whose characters the sample guard replaced by U+FFFD, by reason. */
  onLabelValuesReplaced?: (reason: LabelValueReplacedReason, values: number) => void;
}

/** What `restoreSnapshot` found, for the caller to log. */
export interface RestoreReport {
  restored: boolean;
  rules?: number;
  windows?: number;
  discarded?: string[];
  /** State beyond now + ingest.max_future_skew that was discarded (rules touched, windows and their samples). */
  clamped?: { rules: number; windows: number; samples: number };
}

export class Core {
  readonly router: TopicRouter;
  readonly topicStages: TopicStages;
  readonly built: BuiltStages;
  readonly pipeline: Pipeline;
  /** `ingest`: the sample-timestamp window and label-value repair, right after decoding. */
  readonly guard: SampleGuard;
  private readonly deps: CoreDeps;
  private readonly batch: Sample[] = [];

  /**
   * Compiles the config (throws an Error naming the config key when a rule
   * does not compile, or when a device registry cannot be loaded). `sink`
   * receives what leaves the pipeline, synchronously, from `ingest` and `tick`.
   */
  constructor(
    readonly config: Config,
    deps: CoreDeps,
    sink: (samples: Sample[]) => void,
  ) {
    this.deps = deps;
    this.router = new TopicRouter(config.topics);
    this.guard = new SampleGuard({
      maxFutureSkewMs: config.ingest.max_future_skew,
      maxSampleAgeMs: config.ingest.max_sample_age,
      onDrop: deps.onDrop,
      onReplace: (reason, n) => deps.onLabelValuesReplaced?.(reason, n),
    });
    this.topicStages = new TopicStages(config.topics, deps.onDrop);
    this.built = buildStages(config, deps);
    this.pipeline = new Pipeline(this.built.stages, sink);
  }

  /** One message: returns false when no topic rule matched it (counted as no_topic_rule). */
  ingest(topic: string, payload: Uint8Array | string, nowMs: number): boolean {
    const batch = this.batch;
    batch.length = 0;
    decodedHashes.begin();
    const rule = this.router.decode(topic, payload, nowMs, batch, this.deps.onDrop);
    if (rule < 0) {
      this.deps.onMessageDropped?.("no_topic_rule");
      return false;
    }
    if (batch.length === 0) return true;
    // Before any stage: a far-future timestamp must not reach a limiter or a window, a bad character no relabel regex.
    this.guard.apply(batch, nowMs);
    if (batch.length === 0) return true;
    const samples = this.topicStages.process(rule, batch.slice(), nowMs);
    if (samples.length === 0) return true;
    this.deps.onSamplesIn?.(samples.length);
    this.pipeline.push(samples, nowMs);
    return true;
  }

  /** Runs the window clock: closed windows (every open one when `final`) go through the rest of the pipeline. */
  tick(nowMs: number, final = false): void {
    this.pipeline.tick(nowMs, final);
  }

  /**
   * Loads an aggregation snapshot (`aggregate.snapshot()`) taken by a previous
   * run, e.g. from the recovery checkpoint; call before any message arrives.
   */
  restoreSnapshot(data: Parameters<AggregateStage["restore"]>[0], nowMs: number, blocks?: Parameters<AggregateStage["restore"]>[1]): RestoreReport {
    const aggregate = this.built.aggregate;
    const report = aggregate.restore(data, blocks);
    // A checkpoint written before the timestamp window existed (or under a wrong clock) may hold a
    // high-water mark in the future, which would refuse every later sample as too_late.
    const clamped = aggregate.clampFuture(nowMs + this.config.ingest.max_future_skew);
    if (clamped.windows > 0) this.deps.onDrop("too_far_in_future", clamped.samples);
    const out: RestoreReport = { restored: true, rules: report.rules, windows: report.windows, discarded: report.discarded };
    if (clamped.rules > 0) out.clamped = clamped;
    return out;
  }

  /** Per-topic and global cardinality limiters: series each counts now. */
  limitStats(nowMs: number): { scope: string; active: number }[] {
    const out = this.topicStages.limitStats(nowMs);
    if (this.built.limits) out.unshift({ scope: "global", active: this.built.limits.activeSeries() });
    return out;
  }

  /** What one remote-write target receives (its write_relabel_configs, then the order guard), for recomputing it outside the gateway. */
  targetView(index: number): SeriesView {
    const target = this.config.remote_write[index];
    if (target === undefined) throw new Error(`remote_write[${index}] is not configured`);
    return new SeriesView(target.write_relabel_configs ?? [], this.deps.onDrop);
  }

  /** Device registries of `enrich`: the caller starts their reload polling and closes them. */
  get registries(): BuiltStages["registries"] {
    return this.built.registries;
  }
}
