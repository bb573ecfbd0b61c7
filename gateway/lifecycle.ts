import type { Logger } from "pino";

/**
 * One part of the running gateway (outbox, senders, pipeline clock, HTTP
 * server, MQTT broker). `close` is given a deadline and should stop by then;
 * the lifecycle does not wait for it longer than that either.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void> | void;
  /** Stops the component; `deadlineMs` is how long it may take. */
  close(deadlineMs: number): Promise<void> | void;
  /** The deadline the lifecycle gives this component's close (default 2000 ms). */
  readonly closeDeadlineMs?: number;
}

const DEFAULT_CLOSE_DEADLINE_MS = 2000;

/** Resolves with true when `p` settles within `ms`, false when the deadline passed first; rejects with `p`'s error. */
async function within(p: Promise<void> | void, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([Promise.resolve(p).then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts components in order (downstream first: the outbox before the senders
 * that read it, the broker that accepts data last), closes them in reverse
 * (stop accepting first, SQLite last), logs each phase with its duration and
 * bounds every close by its deadline, so shutdown always ends. A component
 * whose start fails makes start() close the ones already started and rethrow.
 * close() is idempotent; a failing or overdue close is logged and the next
 * component is closed all the same.
 */
export class Lifecycle {
  private readonly components: Component[] = [];
  private started: Component[] = [];
  private closing: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  add(component: Component): this {
    this.components.push(component);
    return this;
  }

  async start(): Promise<void> {
    for (const c of this.components) {
      const t0 = performance.now();
      try {
        await c.start();
      } catch (err) {
        this.log.error({ component: c.name, err: (err as Error).message }, "component failed to start; closing the ones started");
        await this.close();
        throw err;
      }
      this.started.push(c);
      this.log.info({ component: c.name, ms: Math.round(performance.now() - t0) }, "component started");
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const list = this.started.reverse();
      this.started = [];
      for (const c of list) {
        const deadline = c.closeDeadlineMs ?? DEFAULT_CLOSE_DEADLINE_MS;
        const t0 = performance.now();
        try {
          const done = await within(c.close(deadline), deadline);
          const ms = Math.round(performance.now() - t0);
          if (done) this.log.info({ component: c.name, ms }, "component closed");
          else this.log.warn({ component: c.name, ms, deadline_ms: deadline }, "component did not close within its deadline; moving on");
        } catch (err) {
          this.log.error({ component: c.name, err: (err as Error).message }, "component failed to close");
        }
      }
    })();
    return this.closing;
  }
}
