import type { Metrics } from "../metrics/catalogue.js";
import type { Outbox } from "../outbox/outbox.js";

/** Sets one target's outbox gauges (summed over its shard queues) (cheap: the outbox keeps its figures in memory). Never throws. */
export function updateOutboxGauges(outbox: Outbox, metrics: Metrics, target: string): void {
  try {
    const d = outbox.depth(target);
    metrics.outboxRows.set({ target }, d.rows);
    metrics.outboxBytes.set({ target }, d.bytes);
    metrics.outboxOldestAge.set({ target }, d.oldestMs === null ? 0 : Math.max(0, (Date.now() - d.oldestMs) / 1000));
    metrics.outboxDeadLetters.set({ target }, outbox.deadLetterDepth(target).rows);
  } catch {
    // outbox closed during shutdown: the gauges keep their last values
  }
}

/** Waiting rows of one target, 0 once the outbox is closed. */
export function pendingRows(outbox: Outbox, target: string): number {
  try {
    return outbox.depth(target).rows;
  } catch {
    return 0;
  }
}

/** Waiting rows of one queue (a target's, or one shard's), 0 once the outbox is closed. */
export function queueRows(outbox: Outbox, queue: string): number {
  try {
    return outbox.queueDepth(queue).rows;
  } catch {
    return 0;
  }
}
