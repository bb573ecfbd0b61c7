/**
 * The pipeline's clock: a tick every `periodMs` (storage.flush_interval, at
 * most 1 s), plus one at the moment the next aggregation window is due to
 * close (window end + allowed_lateness), so a window reaches the outbox when
 * it closes, not up to a whole period later. With the periodic tick alone the
 * flink-demo windows (5 s + 5 s lateness) arrived 10.2–11.35 s after their
 * start: over the "window + allowed lateness + 1 s" a user expects, because
 * the tick's phase is unrelated to window boundaries.
 */
export class TickTimer {
  private periodic: NodeJS.Timeout | null = null;
  private due: NodeJS.Timeout | null = null;
  private dueAt = Infinity;
  /**
   * The due time the last one-off tick was for. A window can stay open past it (the clock is held
   * at a message still waiting for its journal commit): it is then left to the periodic tick, not
   * retried every millisecond.
   */
  private firedFor = -Infinity;

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

  /** A one-off tick at the next window's close when the periodic one would come later. */
  private arm(): void {
    if (this.periodic === null) return;
    const at = this.nextDueMs();
    const wait = at - this.now();
    if (!(wait < this.periodMs) || at === this.dueAt || at <= this.firedFor) return;
    if (this.due !== null) clearTimeout(this.due);
    this.dueAt = at;
    this.due = setTimeout(
      () => {
        this.due = null;
        this.firedFor = at;
        this.dueAt = Infinity;
        this.run();
      },
      Math.max(0, wait) + 1, // a window closes when the clock has reached its due time
    );
    this.due.unref();
  }
}
