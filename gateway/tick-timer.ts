/**
 * The pipeline's clock: a tick every `periodMs` (storage.flush_interval, at
 * most 1 s), plus one at the moment the next aggregation window is due to
 * close (window end + allowed_lateness), so a window reaches the outbox when
 * it closes, not up to a whole period later. With the periodic tick alone the
 * flink-demo windows (5 s + 5 s lateness) arrived 10.2–11.35 s after their
 * start: over the "window + allowed lateness + 1 s" a user expects, because
 * the tick's phase is unrelated to window boundaries.
 */
/** A one-off tick that left its window open is tried again after 5, 10, 20, 40, 80 and 160 ms (315 ms in all). */
const RETRY_FIRST_MS = 5;
const RETRY_MAX = 6;

export class TickTimer {
  private periodic: NodeJS.Timeout | null = null;
  private due: NodeJS.Timeout | null = null;
  private dueAt = Infinity;
  /**
   * The due time the last one-off tick was for. A window can stay open past it: the clock is held
   * at a message still waiting for its journal commit (the writer thread's group in flight), or a
   * checkpoint written off the event loop holds the state. That lasts milliseconds, so the tick is
   * tried again after RETRY_FIRST_MS, doubling, RETRY_MAX times; then it is left to the periodic
   * tick. Left to the periodic tick at once, such a window went out up to a whole period late
   * (flink-demo at ~90 % of a core: 11.2–11.4 s after its start instead of 10.0–10.2 s).
   */
  private firedFor = -Infinity;
  private retries = 0;

  constructor(
    private readonly periodMs: number,
    private readonly tick: () => void,
    /** Wall-clock ms at which the next open window closes (Infinity: none). */
    private readonly nextDueMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.periodic = setInterval(() => this.run(), this.periodMs);
    this.periodic.unref();
    this.arm();
  }

  stop(): void {
    if (this.periodic !== null) clearInterval(this.periodic);
    if (this.due !== null) clearTimeout(this.due);
    this.periodic = this.due = null;
    this.dueAt = Infinity;
  }

  private run(): void {
    this.tick();
    this.arm();
  }

  /** A one-off tick at the next window's close when the periodic one would come later (or a retry of one that could not close it). */
  private arm(): void {
    if (this.periodic === null) return;
    const at = this.nextDueMs();
    const wait = at - this.now();
    if (!(wait < this.periodMs) || at === this.dueAt || at < this.firedFor) return;
    let delay: number;
    if (at === this.firedFor) {
      // Its one-off tick ran and the window is still open.
      if (this.retries >= RETRY_MAX) return;
      delay = RETRY_FIRST_MS * 2 ** this.retries++;
    } else {
      this.retries = 0;
      delay = Math.max(0, wait) + 1; // a window closes when the clock has reached its due time
    }
    if (this.due !== null) clearTimeout(this.due);
    this.dueAt = at;
    this.due = setTimeout(() => {
      this.due = null;
      this.firedFor = at;
      this.dueAt = Infinity;
      this.run();
    }, delay);
    this.due.unref();
  }
}
