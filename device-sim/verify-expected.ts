/**
 * What the gateway should have sent, recomputed from a ledger: every
 * delivered message is decoded by the gateway's own TopicRouter and run
 * through the gateway's own stages (`buildStages(config)`), in the order the
 * broker acknowledged them and with their acknowledgement time as the
 * pipeline's clock. So aggregation rules, windows, allowed lateness (a
 * backlog replayed too late for its window is dropped, as the gateway drops
 * it), forward_unmatched and external_labels are those of the config, with no
 * second implementation to drift from the first.
 *
 * The one step outside the stages, the outbox's per-series order guard
 * (Remote-Write 1.0: a series' samples MUST be in timestamp order, so a
 * sample not newer than the last one committed is dropped as
 * reason="out_of_order"), is applied here too.
 */
import type { Config } from "../gateway/config/schema.js";
import { TopicRouter } from "../gateway/ingest/topic-router.js";
import { buildStages } from "../gateway/pipeline/build.js";
import { Pipeline } from "../gateway/pipeline/pipeline.js";
import { seriesKey, type Labels, type Sample } from "../gateway/prom/sample.js";
import { messagePayload, readLedger, type LedgerHeader, type LedgerMessage, type SignalSummary } from "./ledger.js";

export type SeriesKind = "raw" | "aggregated";

export interface ExpectedSeries {
  key: string;
  labels: Labels;
  kind: SeriesKind;
  /** [timestamp ms, value], in timestamp order. */
  samples: [number, number][];
}

export interface Expected {
  header: LedgerHeader | undefined;
  messages: number;
  vehicles: number;
  summaries: SignalSummary[];
  series: Map<string, ExpectedSeries>;
  /** Samples the gateway drops by design (too_late, out_of_order, …), by reason. */
  drops: Map<string, number>;
}

/** How often (ledger time) the recomputation runs the window clock, like the gateway's flush timer. */
const TICK_MS = 100;

export async function recompute(ledgerPath: string, config: Config): Promise<Expected> {
  let header: LedgerHeader | undefined;
  const messages: LedgerMessage[] = [];
  const summaries: SignalSummary[] = [];
  for await (const rec of readLedger(ledgerPath)) {
    if (rec.type === "header") header ??= rec;
    else if (rec.type === "message") messages.push(rec);
    else summaries.push(rec);
  }
  // Stable sort: a worker ledger's parts are concatenated, so restore arrival order across vehicles.
  messages.sort((a, b) => a.at - b.at);

  const drops = new Map<string, number>();
  const onDrop = (reason: string, n: number): void => {
    drops.set(reason, (drops.get(reason) ?? 0) + n);
  };
  const series = new Map<string, ExpectedSeries>();
  const lastTs = new Map<string, number>();
  let kind: SeriesKind = "raw";
  const collect = (samples: Sample[]): void => {
    for (const s of samples) {
      const key = seriesKey(s.labels);
      const last = lastTs.get(key);
      if (last !== undefined && s.timestamp <= last) {
        onDrop("out_of_order", 1);
        continue;
      }
      lastTs.set(key, s.timestamp);
      let e = series.get(key);
      if (e === undefined) {
        e = { key, labels: s.labels, kind, samples: [] };
        series.set(key, e);
      }
      e.samples.push([s.timestamp, s.value]);
    }
  };
  const router = new TopicRouter(config.topics);
  const { stages } = buildStages(config, { onDrop });
  const pipeline = new Pipeline(stages, collect);
  const vehicles = new Set<string>();
  let lastTick = -Infinity;
  let lastAt = 0;
  for (const m of messages) {
    vehicles.add(m.vehicle);
    if (m.at - lastTick >= TICK_MS) {
      kind = "aggregated"; // what a tick emits comes out of the window stages
      pipeline.tick(m.at);
      lastTick = m.at;
    }
    kind = "raw";
    const batch: Sample[] = [];
    if (!router.route(m.topic, messagePayload(m), m.at, batch, onDrop)) {
      onDrop("no_topic_rule", 1);
      continue;
    }
    if (batch.length > 0) pipeline.push(batch, m.at);
    lastAt = m.at;
  }
  kind = "aggregated";
  pipeline.tick(lastAt, true); // the gateway flushes every open window at shutdown, or once they close
  return { header, messages: messages.length, vehicles: vehicles.size, summaries, series, drops };
}
