import type { Logger } from "pino";
import type { RemoteWriteConfig } from "../config/schema.js";
import type { Outbox } from "../outbox/outbox.js";
import { queueNames, queueTarget } from "./queue-names.js";
import type { Metrics } from "../metrics/catalogue.js";
import { Sender, type SenderStatus } from "./sender.js";

type SenderOptions = ConstructorParameters<typeof Sender>[0];

/**
 * One remote-write target: a Sender per shard queue (`queue_config.shards`,
 * default 1), so one request in flight per shard; the outbox sink puts every
 * series in the shard of its label hash (shard.ts), so each series is still
 * sent in order. Everything reports under the target's name.
 *
 * Queues of this target that do not belong to the configured layout (written
 * before `shards` was changed, whose series may now hash to another shard) are
 * sent first, one queue at a time, one request in flight; the shards start
 * when they are empty. A queue of another layout that appears later (a dead
 * letter requeued with `edgegate outbox requeue`) gets a sender of its own.
 */
export class TargetSender {
  readonly name: string;
  private readonly opts: SenderOptions;
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly layout: string[];
  private readonly senders = new Map<string, Sender>();
  private unsubscribe: (() => void) | undefined;
  private phase: Promise<void> | undefined;
  private legacyPhase = true;
  private readonly waiting: string[] = [];
  private closing = false;

  constructor(opts: { name: string; config: RemoteWriteConfig; outbox: Outbox; metrics: Metrics; log: Logger; userAgent: string; env?: NodeJS.ProcessEnv }) {
    this.name = opts.name;
    this.opts = opts;
    this.outbox = opts.outbox;
    this.log = opts.log;
    this.layout = queueNames(opts.name, opts.config.queue_config.shards);
    // Built now, so a config error (headers, TLS files) fails the start, naming the target.
    for (const q of this.layout) this.senders.set(q, new Sender({ ...opts, queue: q }));
  }

  /** Starts the senders (the previous layout's queues first). Idempotent. */
  start(): void {
    if (this.phase !== undefined || this.closing) return;
    const legacy = this.outbox.queues(this.name).filter((q) => !this.layout.includes(q));
    this.waiting.push(...legacy);
    this.unsubscribe = this.outbox.onAppend((queue) => {
      if (queueTarget(queue) !== this.name || this.senders.has(queue) || this.waiting.includes(queue)) return;
      if (this.legacyPhase) this.waiting.push(queue);
      else this.startQueue(queue);
    });
    if (legacy.length > 0) {
      const rows = legacy.reduce((n, q) => n + this.outbox.queueDepth(q).rows, 0);
      this.log.warn({ queues: legacy, rows }, "outbox holds batches of another shard layout (queue_config.shards changed); sending them first, one request at a time");
    }
    this.phase = this.run();
  }

  status(): SenderStatus {
    let merged: SenderStatus | undefined;
    for (const s of this.senders.values()) {
      const st = s.status(); // pending figures are the target's (all queues)
      if (merged === undefined) merged = st;
      else {
        if (st.lastSuccessMs !== null && (merged.lastSuccessMs === null || st.lastSuccessMs > merged.lastSuccessMs)) merged.lastSuccessMs = st.lastSuccessMs;
        if (st.lastError !== null && (merged.lastError === null || st.lastError.atMs > merged.lastError.atMs)) merged.lastError = st.lastError;
      }
    }
    return merged!;
  }

  /** Resolves when every queue of the target is empty and nothing is in flight, or when closed. */
  async drained(): Promise<void> {
    await this.phase;
    await Promise.all([...this.senders.values()].map((s) => s.drained()));
  }

  close(deadlineMs: number): Promise<void> {
    this.closing = true;
    this.unsubscribe?.();
    return Promise.all([...this.senders.values()].map((s) => s.close(deadlineMs))).then(() => undefined);
  }

  private async run(): Promise<void> {
    // The previous layouts' queues, one at a time: a series may be in any of them.
    for (let q = this.waiting.shift(); q !== undefined && !this.closing; q = this.waiting.shift()) {
      const sender = this.startQueue(q);
      await sender.drained();
    }
    this.legacyPhase = false;
    if (this.closing) return;
    for (const q of this.layout) this.senders.get(q)!.start();
  }

  private startQueue(queue: string): Sender {
    const sender = new Sender({ ...this.opts, queue });
    this.senders.set(queue, sender);
    sender.start();
    return sender;
  }
}
