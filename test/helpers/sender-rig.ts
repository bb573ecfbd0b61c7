import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { pino } from "pino";
import type { z } from "zod";
import { remoteWriteSchema } from "../../gateway/config/schema-remote-write.js";
import { createMetrics, type Metrics } from "../../gateway/metrics/catalogue.js";
import { Outbox, type OutboxOptions } from "../../gateway/outbox/outbox.js";
import { encodeWriteRequest, snappyCompress, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { Sender } from "../../gateway/remote-write/sender.js";
import { queueTarget } from "../../gateway/remote-write/queue-names.js";

/** A Sender over a temp-file Outbox, closed (sender first) after the test. */
export interface SenderRig {
  outbox: Outbox;
  path: string;
  metrics: Metrics;
  sender: Sender;
  logs: { level: number; msg: string; [k: string]: unknown }[];
}

export const TARGET = "test";
export const USER_AGENT = "edgegate/0.0.0-test";

export function senderRig(
  t: TestContext,
  url: string,
  overrides: Partial<z.input<typeof remoteWriteSchema>> = {},
  opts: { env?: NodeJS.ProcessEnv; outbox?: OutboxOptions } = {},
): SenderRig {
  const dir = mkdtempSync(join(tmpdir(), "edgegate-sender-"));
  const path = join(dir, "outbox.db");
  const outbox = Outbox.open(path, { maintenanceIntervalMs: 0, group: queueTarget, ...opts.outbox });
  const metrics = createMetrics();
  const logs: SenderRig["logs"] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line) as SenderRig["logs"][number]) });
  const config = remoteWriteSchema.parse({
    url,
    remote_timeout: "2s",
    ...overrides,
    queue_config: { max_samples_per_send: 100, min_backoff: "10ms", max_backoff: "50ms", replay_speed: 0, ...overrides.queue_config },
  });
  const sender = new Sender({ name: TARGET, config, outbox, metrics, log, userAgent: USER_AGENT, ...(opts.env ? { env: opts.env } : {}) });
  t.after(async () => {
    await sender.close(100);
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { outbox, path, metrics, sender, logs };
}

/** One stored batch holding samples `m{batch="<tag>"}` at the given timestamps (value = timestamp). */
export function rwBatch(tag: string, timestamps: number[]): { payload: Uint8Array; samples: number } {
  const { series } = toTimeSeries(timestamps.map((ts) => ({ labels: { __name__: "m", batch: tag }, value: ts, timestamp: ts })));
  return { payload: snappyCompress(encodeWriteRequest(series)), samples: timestamps.length };
}

type Collectable = { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> };
/** The value of a prom-client metric for the series whose labels include `labels` (0 when absent). */
export async function metricValue(c: Collectable, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((n, v) => n + v.value, 0);
}

export async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
