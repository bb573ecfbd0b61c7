import pino from "pino";
import { parseConfig } from "../../gateway/config/load.js";
import { Core } from "../../gateway/core.js";
import { createMetrics } from "../../gateway/metrics/catalogue.js";
import { Outbox } from "../../gateway/outbox/outbox.js";
import type { Sample } from "../../gateway/prom/sample.js";
import { Durability } from "../../gateway/recovery.js";
import { OutboxSink } from "../../gateway/remote-write/pending-series.js";

/** A rule that rolls up metric `m` per fleet in 10 s windows; topic `d/{vin}`, payload `{ts, m, fleet}`. */
export const RECOVERY_CONFIG = `
topics: [{topic: "d/{vin}", timestamp_field: ts, label_fields: [fleet]}]
aggregation: [{match: "m", interval: 10s, allowed_lateness: 5s, by: [fleet], outputs: [sum_samples, count_series]}]
remote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]
`;
export const RECOVERY_T0 = 1_700_000_000_000;

export interface RecoveryWiringOptions {
  config?: string;
  /** The sink's buffer bound (OutboxSink's maxBuffered). */
  maxBuffered?: number;
  /**
   * Samples of an entry the journal replays at or behind the outbox position are not written
   * again (the gateway's wiring in app.ts); without it every replayed sample is written.
   */
  skipCommittedRaw?: boolean;
  durability?: Partial<ConstructorParameters<typeof Durability>[0]>;
}

/**
 * The gateway's recovery pieces over a real outbox file, as app.ts wires them: the outbox, its
 * sink, the core (its output collected in `out`), a settable clock and the Durability layer.
 */
export function wireRecovery(path: string, o: RecoveryWiringOptions = {}) {
  const config = parseConfig(o.config ?? RECOVERY_CONFIG, "test");
  const outbox = Outbox.open(path);
  const metrics = createMetrics();
  const log: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void log.push(line) });
  const sink = new OutboxSink(outbox, [{ name: "t", maxSamplesPerSend: 1000 }], metrics, logger, o.maxBuffered);
  const out: Sample[] = [];
  let rawCommitted = false;
  const core = new Core(config, { onDrop: () => undefined }, (s) => {
    if (rawCommitted) return sink.remember(s);
    out.push(...s);
    sink.write(s);
  });
  const clock = { now: RECOVERY_T0 };
  let processed = 0;
  const durability = new Durability({
    outbox,
    sink: () => sink,
    core: () => core,
    process: (e, committed) => {
      processed++;
      rawCommitted = o.skipCommittedRaw === true && committed;
      core.ingest(e.topic, e.payload, e.receivedMs);
      rawCommitted = false;
    },
    metrics,
    log: logger,
    now: () => clock.now,
    checkpointIntervalMs: 0,
    journalMaxBytes: 1 << 26,
    storagePath: path,
    ...o.durability,
  });
  return {
    outbox, log, sink, out, core, clock, durability,
    /** Entries the Durability layer handed to the pipeline. */
    processed: () => processed,
    /** Rows in the journal table, counted by SQLite. */
    journalRows: () => (outbox.connection().prepare("SELECT count(*) AS n FROM journal").get() as { n: number }).n,
  };
}
