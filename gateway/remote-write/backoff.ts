/**
 * Retry timing of the sender: capped exponential backoff with full jitter, and
 * the receiver's `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date).
 */

/** Longest wait a `Retry-After` may impose, whatever max_backoff says. */
export const RETRY_AFTER_CAP_MS = 5 * 60_000;

/**
 * Delay before retry number `failures` (1 = first retry): uniformly random in
 * [minMs, min(maxMs, minMs * 2^(failures-1))]. Jitter spreads out the retries of
 * many gateways that lost the same receiver at the same moment.
 */
export function backoffDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(failures - 1, 30); // 2^30 × any sane min_backoff is past any cap
  const cap = Math.max(minMs, Math.min(maxMs, minMs * 2 ** exp));
  return minMs + Math.floor(random() * (cap - minMs + 1));
}

/** Milliseconds a `Retry-After` value asks for, or undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** A sleep that `cancel()` ends early (resolving, not rejecting), for backoff waits that close() must not outlast. */
export class Sleep {
  private timer: NodeJS.Timeout | undefined;
  private done: (() => void) | undefined;

  wait(ms: number): Promise<void> {
    this.cancel();
    return new Promise<void>((resolve) => {
      this.done = resolve;
      this.timer = setTimeout(() => this.cancel(), ms);
    });
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const done = this.done;
    this.done = undefined;
    done?.();
  }
}
