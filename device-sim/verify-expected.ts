/**
 * What the gateway should have sent, recomputed from a ledger: every
 * delivered message is run through the gateway's own core (topic rule,
 * decoder, per-topic and pipeline stages: gateway/core.ts), in the order the
 * broker acknowledged them and with their acknowledgement time as the
 * pipeline's clock. So aggregation rules, windows, allowed lateness (a
 * backlog replayed too late for its window is dropped, as the gateway drops
 * it), forward_unmatched and external_labels are those of the config, with no
 * second implementation to drift from the first.
 *
 * What leaves the pipeline then goes through the view of the verified
 * remote-write target (`remote_write[target]`), as in the gateway: its
 * write_relabel_configs, then the per-series order guard (Remote-Write 1.0: a
 * series' samples MUST be in timestamp order, so a sample not newer than the
 * last one committed is dropped as reason="out_of_order").
 */
import { Core, SeriesView, seriesKey, type Config, type Labels, type Sample } from "../gateway/core.js";
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

/** `target`: the index in `remote_write` of the target whose receiver is verified (default the first). */
export async function recompute(ledgerPath: string, config: Config, target = 0): Promise<Expected> {
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
  let kind: SeriesKind = "raw";
  let view: SeriesView | null = null;
  const collect = (samples: Sample[]): void => {
    for (const s of view!.take(samples)) {
      const labels: Labels = {};
      for (const l of s.labels) labels[l.name] = l.value;
      const key = seriesKey(labels);
      let e = series.get(key);
      if (e === undefined) {
        e = { key, labels, kind, samples: [] };
        series.set(key, e);
      }
      for (const p of s.samples) e.samples.push([p.timestamp, p.value]);
    }
  };
  const core = new Core(config, { onDrop, onMessageDropped: (reason) => onDrop(reason, 1) }, collect);
  view = config.remote_write.length > 0 ? core.targetView(target) : new SeriesView([], onDrop);
  const vehicles = new Set<string>();
  let lastTick = -Infinity;
  let lastAt = 0;
  for (const m of messages) {
    vehicles.add(m.vehicle);
    if (m.at - lastTick >= TICK_MS) {
      kind = "aggregated"; // what a tick emits comes out of the window stages
      core.tick(m.at);
      lastTick = m.at;
    }
    kind = "raw";
    if (!core.ingest(m.topic, messagePayload(m), m.at)) continue;
    lastAt = m.at;
  }
  kind = "aggregated";
  core.tick(lastAt, true); // the gateway flushes every open window at shutdown, or once they close
  return { header, messages: messages.length, vehicles: vehicles.size, summaries, series, drops };
}
