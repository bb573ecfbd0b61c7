import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../metrics/catalogue.js";
import { Outbox, type OutboxOptions } from "./outbox.js";

/**
 * Opens the gateway's outbox from `storage`, wiring evictions to the
 * self-metrics and reporting what the previous run left behind (an unclean
 * stop, a backlog). Evicted waiting samples are counted twice on purpose: in
 * `edgegate_samples_dropped_total{reason}` (the gateway-wide drop account) and
 * per target in `edgegate_outbox_evicted_samples_total{target,reason}` (the
 * per-target account: written = sent + dead-lettered + evicted + queued);
 * `group` maps a queue to its target (the sender names the queues).
 */
export function openOutbox(storage: Config["storage"], metrics: Metrics, log: Logger, group: OutboxOptions["group"], otherBytes?: () => number): Outbox {
  const outbox = Outbox.open(storage.path, {
    group,
    otherBytes,
    maxBytes: storage.max_bytes,
    maxAgeMs: storage.max_age,
    onEvict(e) {
      if (e.table === "batches") {
        metrics.samplesDropped.inc({ reason: e.reason }, e.samples);
        metrics.outboxEvicted.inc({ target: e.target, reason: e.reason }, e.samples);
        log.warn({ target: e.target, reason: e.reason, rows: e.rows, samples: e.samples, bytes: e.bytes }, "outbox bound reached: oldest batches evicted before delivery");
      } else {
        log.warn({ target: e.target, reason: e.reason, rows: e.rows, samples: e.samples }, "outbox bound reached: oldest dead letters evicted");
      }
    },
    onError(err) {
      log.error({ err }, "outbox maintenance failed; retrying at the next tick");
    },
  });
  const info = outbox.startInfo;
  metrics.outboxUncleanStart.set(info.unclean ? 1 : 0);
  if (info.unclean) {
    const fields = { previousPid: info.previous?.pid, previousStart: info.previous ? new Date(info.previous.startedMs).toISOString() : undefined, integrity: info.integrity };
    if (info.integrity === "ok") log.warn(fields, "the previous run did not shut down cleanly (kill -9, crash or power cut); committed batches were recovered, integrity check ok");
    else log.error(fields, "the previous run did not shut down cleanly and the outbox integrity check found problems");
  }
  const leftover = outbox.depth();
  if (leftover.rows > 0) log.info({ rows: leftover.rows, samples: leftover.samples }, "outbox holds batches from a previous run; sending them first");
  return outbox;
}
