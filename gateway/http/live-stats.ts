import type { Metrics } from "../metrics/catalogue.js";
import { redactUrl } from "./redact.js";

/** What the status page shows at one instant; rates are per second over the last sampling step. */
export interface LivePoint {
  /** Unix ms. */
  t: number;
  ready: boolean;
  uptime_seconds: number;
  connected_devices: number;
  messages_per_second: number;
  samples_in_per_second: number;
  samples_out_per_second: number;
  samples_in_total: number;
  samples_out_total: number;
  /** samples in ÷ samples out since start (null before anything went out). */
  reduction_ratio: number | null;
  dead_letter_rows: number;
  /** Totals by reason, only reasons that happened. */
  drops: Record<string, number>;
  refusals: Record<string, number>;
  targets: LiveTarget[];
}

export interface LiveTarget {
  name: string;
  url: string;
  /** up: last attempt succeeded; down: last attempt failed; idle: nothing sent yet. */
  state: "up" | "down" | "idle";
  last_success: string | null;
  last_error: { at: string; message: string } | null;
  outbox_rows: number;
  oldest_age_seconds: number;
  samples_sent_per_second: number;
  dead_letter_rows: number;
}

export interface LiveSource {
  metrics: Metrics;
  ready(): boolean;
  uptimeSeconds(): number;
  connectedDevices(): number;
  targets(): { name: string; url: string; lastSuccessMs: number | null; lastError: { atMs: number; message: string } | null; rows: number; oldestMs: number | null; deadLetterRows: number }[];
}

async function byLabel(c: { get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }> }, label: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await c.get()).values) {
    const k = String(v.labels[label] ?? "");
    out.set(k, (out.get(k) ?? 0) + v.value);
  }
  return out;
}

async function total(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  let s = 0;
  for (const v of (await c.get()).values) s += v.value;
  return s;
}

function nonZero(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1])) if (v > 0) out[k] = v;
  return out;
}

/**
 * Samples the gateway's own counters once per step into a bounded ring of
 * points (the status page's charts), computing rates from the previous point.
 * It reads the same counters /metrics exports, so the page and Prometheus agree.
 */
export class LiveStats {
  private readonly ring: LivePoint[] = [];
  private prev: { t: number; messages: number; samplesIn: number; samplesOut: number; sent: Map<string, number> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(p: LivePoint) => void>();

  constructor(
    private readonly source: LiveSource,
    private readonly capacity = 600,
  ) {}

  start(stepMs = 1000): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), stepMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  history(): LivePoint[] {
    return this.ring.slice();
  }

  subscribe(fn: (p: LivePoint) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async sample(now = Date.now()): Promise<LivePoint> {
    const m = this.source.metrics;
    const [messages, samplesIn, outByTarget, sentByTarget, drops, refusals] = await Promise.all([
      total(m.mqttMessagesReceived),
      total(m.samplesIn),
      byLabel(m.samplesOut, "target"),
      byLabel(m.rwSamplesSent, "target"),
      byLabel(m.samplesDropped, "reason"),
      byLabel(m.messagesDropped, "reason"),
    ]);
    // Samples out: what the pipeline committed for a target; with several targets (write_relabel may differ) the largest.
    const samplesOut = outByTarget.size === 0 ? 0 : Math.max(...outByTarget.values());
    const prev = this.prev;
    const dt = prev ? Math.max(1e-3, (now - prev.t) / 1000) : 0;
    const rate = (cur: number, before: number | undefined) => (prev && before !== undefined ? Math.max(0, (cur - before) / dt) : 0);
    const targets = this.source.targets().map((tg): LiveTarget => {
      const lastErrAt = tg.lastError?.atMs ?? null;
      const state = lastErrAt !== null && (tg.lastSuccessMs === null || lastErrAt > tg.lastSuccessMs) ? "down" : tg.lastSuccessMs !== null ? "up" : "idle";
      return {
        name: tg.name,
        // The status page is readable by whoever reaches the HTTP port (no auth by default): no `?token=` values.
        url: redactUrl(tg.url),
        state,
        last_success: tg.lastSuccessMs === null ? null : new Date(tg.lastSuccessMs).toISOString(),
        last_error: tg.lastError === null ? null : { at: new Date(tg.lastError.atMs).toISOString(), message: tg.lastError.message },
        outbox_rows: tg.rows,
        oldest_age_seconds: tg.oldestMs === null ? 0 : Math.max(0, (now - tg.oldestMs) / 1000),
        samples_sent_per_second: rate(sentByTarget.get(tg.name) ?? 0, prev?.sent.get(tg.name)),
        dead_letter_rows: tg.deadLetterRows,
      };
    });
    const point: LivePoint = {
      t: now,
      ready: this.source.ready(),
      uptime_seconds: this.source.uptimeSeconds(),
      connected_devices: this.source.connectedDevices(),
      messages_per_second: rate(messages, prev?.messages),
      samples_in_per_second: rate(samplesIn, prev?.samplesIn),
      samples_out_per_second: rate(samplesOut, prev?.samplesOut),
      samples_in_total: samplesIn,
      samples_out_total: samplesOut,
      reduction_ratio: samplesOut > 0 ? samplesIn / samplesOut : null,
      dead_letter_rows: targets.reduce((s, t) => s + t.dead_letter_rows, 0),
      drops: nonZero(drops),
      refusals: nonZero(refusals),
      targets,
    };
    this.prev = { t: now, messages, samplesIn, samplesOut, sent: sentByTarget };
    this.ring.push(point);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const fn of this.listeners) fn(point);
    return point;
  }
}
