/**
 * Rate limit for an error that repeats in a loop (a target down, a registry file
 * broken): the first occurrence of a message is logged, the same message again
 * within `intervalMs` is counted instead, and the next one logged after the
 * interval says how many were suppressed. A changed message is logged at once,
 * so a new kind of failure is never hidden.
 */
export class RepeatLimiter {
  private readonly last = new Map<string, { at: number; message: string; suppressed: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `null` = do not log now; else log, adding `suppressed` (repeats since the last logged one) when > 0. */
  check(key: string, message: string): { suppressed: number } | null {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev && prev.message === message && t - prev.at < this.intervalMs) {
      prev.suppressed++;
      return null;
    }
    const suppressed = prev && prev.message === message ? prev.suppressed : 0;
    this.last.set(key, { at: t, message, suppressed: 0 });
    return { suppressed };
  }

  /** Forget a key (the condition cleared), so the next failure is logged at once. */
  reset(key: string): void {
    this.last.delete(key);
  }
}
