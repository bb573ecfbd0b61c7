/**
 * The live status line and the final summary. On a terminal the line is
 * rewritten in place about 4×/s; otherwise (CI logs, pipes) a plain line is
 * appended every 5 s so a log does not fill with carriage returns.
 * `offline` = vehicles without coverage, `buffered` = readings waiting in
 * their backlogs, `lag` = how far the generator is behind its schedule (a
 * lag that keeps growing means this process cannot sustain the rate).
 */
import type { FleetStats } from "./fleet-stats.js";

export interface ProgressOptions {
  stats: () => FleetStats;
  out: { write(chunk: string): unknown };
  /** Rewrite one line with `\r` (default: false). */
  tty?: boolean;
  /** Refresh period; default 250 ms on a TTY, 5 s otherwise. */
  everyMs?: number;
}

export interface Progress {
  /** Stops refreshing and, on a TTY, ends the live line so the next output starts on a new line. Idempotent. */
  stop(): void;
}

/** Messages per second over a sliding window, so the shown rate reacts within ~2 s but does not jitter at 4 Hz. */
export class RateMeter {
  private readonly samples: { t: number; sent: number }[] = [];

  constructor(private readonly windowMs = 2_000) {}

  /** Records a sample at monotonic time t (ms) and returns the rate over the window (msg/s). */
  add(t: number, sent: number): number {
    this.samples.push({ t, sent });
    while (this.samples.length > 2 && (this.samples[1]?.t ?? t) <= t - this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || t <= first.t) return 0;
    return ((sent - first.sent) * 1000) / (t - first.t);
  }
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

export function formatLive(s: FleetStats, ratePerS: number): string {
  return (
    `connected ${s.connected}/${s.vehicles}  offline ${s.offline}  buffered ${s.buffered}  sent ${s.sent}  rate ${ratePerS.toFixed(1)} msg/s` +
    `  dropped ${s.dropped}  errors ${s.errors}  lag ${s.lagMs}ms  elapsed ${secs(s.elapsedMs)}`
  );
}

export function formatSummary(s: FleetStats): string {
  const mean = s.elapsedMs > 0 ? (s.sent * 1000) / s.elapsedMs : 0;
  return (
    `summary: vehicles ${s.vehicles}  connected ${s.connected}  messages sent ${s.sent}  errors ${s.errors}` +
    `  elapsed ${secs(s.elapsedMs)}  mean rate ${mean.toFixed(1)} msg/s` +
    `  readings ${s.readings}  buffered ${s.buffered}  dropped ${s.dropped}  reconnects ${s.reconnects}  lag ${s.lagMs}ms`
  );
}

export function startProgress(o: ProgressOptions): Progress {
  const tty = o.tty ?? false;
  const meter = new RateMeter();
  let wrote = false;
  const render = (): void => {
    const s = o.stats();
    const line = formatLive(s, meter.add(s.elapsedMs, s.sent));
    // \x1b[K clears what a longer previous line left behind.
    o.out.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    wrote = true;
  };
  meter.add(o.stats().elapsedMs, o.stats().sent);
  const timer = setInterval(render, o.everyMs ?? (tty ? 250 : 5_000));
  // The live line must never be what keeps the process alive.
  timer.unref();
  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (tty && wrote) o.out.write("\n");
    },
  };
}
