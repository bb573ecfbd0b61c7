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
   * Wall-clock ms at which the armed one-off tick should run, and the periodic one (Infinity: none),
   * for `poke`: a timer runs only in the event loop's timers phase, and while the gateway is behind
   * libuv's poll phase reads up to 48 × 1,024 ready sockets before it returns there (flink demo at
   * 100k events/s while 10,000 devices connect: timers held for 1–18 s, a window's close tick 0.9–4 s
   * late while groups of 5,000 messages were committed and processed every 200–500 ms).
   */
  private oneOffAt = Infinity;
  private periodicAt = Infinity;
  private pokeQueued = false;
  /** The last one-off tick left its window open (the clock held), and a report may have freed it: see `reported`. */
  private heldOpen = false;
  private releasedQueued = false;
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
    this.startPeriodic();
    this.arm();
  }

  stop(): void {
    if (this.periodic !== null) clearInterval(this.periodic);
    if (this.due !== null) clearTimeout(this.due);
    this.periodic = this.due = null;
    this.dueAt = this.oneOffAt = this.periodicAt = Infinity;
    this.heldOpen = this.releasedQueued = false;
  }

  /**
   * From the processing path (a message accepted, a journal commit reported), with the current
   * wall-clock ms: when a tick's timer is overdue (the event loop has not reached its timers phase),
   * runs that tick right after the current callback (a microtask), as its timer would have; the
   * timer is cleared (the one-off) or restarted (the periodic), so the tick does not run twice. A
   * compare when nothing is overdue: cheap enough for every message.
   */
  poke(nowMs: number): void {
    if (nowMs < this.oneOffAt && nowMs < this.periodicAt && !this.releasedQueued) return;
    if (this.pokeQueued || this.periodic === null) return;
    this.pokeQueued = true;
    queueMicrotask(() => {
      this.pokeQueued = false;
      this.runOverdue();
    });
  }

  /**
   * A journal commit was reported: the group it holds may be what held a window open at its close
   * tick (the clock does not pass an arrival still in flight). While the last one-off tick left its
   * window open, the tick is tried again right after the report, instead of at its next retry or,
   * retries used up, at the next periodic tick (flink demo, devices disconnecting at 100k events/s:
   * the group in flight at a close was reported 1.6 s after its hand-over, 50 ms after the last
   * retry, and the window went out with the periodic tick a second later). Otherwise as `poke`.
   */
  reported(nowMs: number): void {
    if (this.heldOpen) this.releasedQueued = true;
    this.poke(nowMs);
  }

  private runOverdue(): void {
    if (this.periodic === null) return;
    const now = this.now();
    const released = this.releasedQueued && this.heldOpen;
    this.releasedQueued = false;
    if (this.due !== null && (now >= this.oneOffAt || (released && this.dueAt === this.firedFor))) {
      clearTimeout(this.due);
      this.fire(this.dueAt);
    } else if (released && this.due === null) {
      this.run(); // its retries are used up: once more, for the window still open
    } else if (now >= this.periodicAt) {
      clearInterval(this.periodic);
      this.startPeriodic();
      this.run();
    }
  }

  private startPeriodic(): void {
    this.periodicAt = this.now() + this.periodMs;
    this.periodic = setInterval(() => {
      this.periodicAt = this.now() + this.periodMs;
      this.run();
    }, this.periodMs);
    this.periodic.unref();
  }

  /** The one-off tick for the window closing at `at` (its timer fired, or `poke` found it overdue). */
  private fire(at: number): void {
    this.due = null;
    this.oneOffAt = Infinity;
    this.firedFor = at;
    this.dueAt = Infinity;
    this.run();
  }

  private run(): void {
    this.tick();
    this.arm();
  }

  /** A one-off tick at the next window's close when the periodic one would come later (or a retry of one that could not close it). */
  private arm(): void {
    if (this.periodic === null) return;
    const at = this.nextDueMs();
    this.heldOpen = at === this.firedFor;
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
    this.oneOffAt = this.now() + delay;
    this.due = setTimeout(() => this.fire(at), delay);
    this.due.unref();
  }
}
