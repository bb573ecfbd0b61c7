import pino, { type Logger } from "pino";
import type { Config } from "./config/schema.js";
import { parseDuration } from "./config/duration.js";
import { createMetrics, type Metrics } from "./metrics/catalogue.js";
import { Broker } from "./ingest/broker.js";
import { TopicRouter } from "./ingest/topic-router.js";
import { formatListen } from "./ingest/listen-address.js";
import { Pipeline } from "./pipeline/pipeline.js";
import { buildStages } from "./pipeline/build.js";
import { OutboxSink } from "./pipeline/outbox-sink.js";
import { Durability } from "./recovery.js";
import { GroupCommitter } from "./ingest/durable-ack.js";
import type { JournalEntry } from "./outbox/journal.js";
import { parseByteSize } from "./config/schema-storage.js";
import type { Sample } from "./pipeline/sample.js";
import type { Outbox } from "./outbox/outbox.js";
import { openOutbox } from "./outbox/open.js";
import type { Sender } from "./remote-write/sender.js";
import { TargetSender } from "./remote-write/target-sender.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { USER_AGENT, VERSION } from "./version.js";

export interface GatewayOptions {
  log?: Logger;
  /** Wall clock, injectable for tests. */
  now?: () => number;
  /** How long close() gives the senders to deliver what is queued. */
  shutdownSendTimeoutMs?: number;
  /**
   * Benchmark baseline only: PUBACK before the message is durable (aedes's
   * default, edgegate before issue #11), messages not journaled. Never set
   * in production: a kill -9 then loses acknowledged messages.
   */
  ackBeforeDurable?: boolean;
}

export interface Gateway {
  readonly config: Config;
  readonly metrics: Metrics;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Bound addresses ("127.0.0.1:41234"), useful when the config asked for port 0. */
  mqttAddress(): string;
  httpAddress(): string;
  ready(): boolean;
  status(): GatewayStatus;
  /** Runs the window clock once and commits what is buffered (tests use it instead of waiting). */
  flushNow(final?: boolean): void;
  /** Resolves when every target's outbox is empty. */
  drained(): Promise<void>;
}

export interface GatewayStatus {
  version: string;
  ready: boolean;
  uptime_seconds: number;
  mqtt: { listen: string; connected_clients: number };
  outbox: { path: string; rows: number; bytes: number; samples: number; oldest_age_seconds: number | null; dead_letter_rows: number };
  /** The ingest journal and the disk-full state (`full` is null while messages are acknowledged). */
  storage: { full: string | null; journal_rows: number; journal_bytes: number; checkpoint_seq: number };
  targets: TargetStatus[];
}

/** One remote-write target in /api/v1/status (snake_case like the rest of the document). */
export interface TargetStatus {
  name: string;
  url: string;
  last_success: string | null;
  last_error: { at: string; message: string; status?: number } | null;
  pending_rows: number;
  pending_samples: number;
  dead_letter_rows: number;
}

function targetStatus(s: ReturnType<Sender["status"]>): TargetStatus {
  return {
    name: s.name,
    url: s.url,
    last_success: s.lastSuccessMs === null ? null : new Date(s.lastSuccessMs).toISOString(),
    last_error: s.lastError === null ? null : { at: new Date(s.lastError.atMs).toISOString(), message: s.lastError.message, status: s.lastError.status },
    pending_rows: s.pendingRows,
    pending_samples: s.pendingSamples,
    dead_letter_rows: s.deadLetterRows,
  };
}

/** Target name for self-metrics: the configured `name`, else the URL's host (made unique). */
function targetNames(config: Config): string[] {
  const seen = new Map<string, number>();
  return config.remote_write.map((rw) => {
    const base = rw.name ?? new URL(rw.url).host;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  });
}

/**
 * Builds the gateway from a validated config (STYLE.md: main.ts owns the process,
 * app.ts the gateway, so tests build it without signals). Lifecycle: start()
 * downstream first (outbox → senders → pipeline → http → broker), close()
 * upstream first (broker → final window flush → outbox commit → senders with a
 * deadline → http → SQLite).
 */
export function buildGateway(config: Config, options: GatewayOptions = {}): Gateway {
  const log = options.log ?? pino({ level: "silent" });
  const now = options.now ?? Date.now;
  const metrics = createMetrics({ defaultMetrics: true });
  const names = targetNames(config);
  const router = new TopicRouter(config.topics);
  const onDrop = (reason: string, n: number) => metrics.samplesDropped.inc({ reason }, n);
  const { stages, aggregate, registries, limits } = buildStages(config, {
    onDrop,
    onEnrichMiss: (registry, n) => metrics.enrichMisses.inc({ registry }, n),
    registryEvents: {
      // A failed reload keeps the previous data: logged and counted, never fatal.
      onReload(registry, err, entries) {
        metrics.enrichReloads.inc({ registry, result: err ? "failure" : "success" });
        metrics.enrichEntries.set({ registry }, entries);
        if (err) log.warn({ err: err.message, registry }, "device registry reload failed; keeping the previous data");
        else log.info({ registry, entries }, "device registry loaded");
      },
    },
  });
  const flushIntervalMs = parseDuration(config.storage.flush_interval);
  const checkpointIntervalMs = parseDuration(config.storage.checkpoint_interval);
  let staleMarkersCounted = 0;
  let durability: Durability | null = null;
  let committer: GroupCommitter | null = null;
  /** During replay of messages whose raw samples the outbox already has: they only update the order guard. */
  let rawCommitted = false;

  let outbox: Outbox | null = null;
  let sink: OutboxSink | null = null;
  let pipeline: Pipeline | null = null;
  let senders: TargetSender[] = [];
  let http: HttpServer | null = null;
  let broker: Broker | null = null;
  let timer: NodeJS.Timeout | null = null;
  let isReady = false;
  let closing: Promise<void> | null = null;
  const startedAt = now();
  const batch: Sample[] = [];

  /** Runs one accepted (journaled) message through the pipeline, with its arrival time as the clock (replay gives the same result). */
  function processEntry(entry: JournalEntry, committed: boolean): void {
    rawCommitted = committed;
    try {
      onMessage(entry.topic, entry.payload, entry.receivedMs);
    } catch (err) {
      // A bug in a stage must not take ingest down with it; count and log it.
      metrics.messagesDropped.inc({ reason: "internal_error" });
      log.error({ err, topic: entry.topic }, "failed to process message");
    } finally {
      rawCommitted = false;
    }
  }

  function onMessage(topic: string, payload: Buffer, t: number): void {
    if (!pipeline) return;
    batch.length = 0;
    if (!router.route(topic, payload, t, batch, onDrop)) {
      metrics.messagesDropped.inc({ reason: "no_topic_rule" });
      return;
    }
    if (batch.length === 0) return;
    // Replayed messages whose samples the outbox already has were counted by the run that committed them.
    if (!rawCommitted) metrics.samplesIn.inc(batch.length);
    pipeline.push(batch.slice(), t);
  }

  function tick(final: boolean): void {
    if (!pipeline || !sink || !durability) return;
    if (final) committer?.flush();
    const before = sink.pending();
    pipeline.tick(now(), final);
    // Outbox rows, journal position and (when windows were emitted) the checkpoint: one transaction.
    durability.commit(sink.pending() > before, final);
    metrics.staleMarkers.inc(aggregate.staleMarkers - staleMarkersCounted);
    staleMarkersCounted = aggregate.staleMarkers;
    const st = aggregate.stats();
    metrics.windowsOpen.set(st.windowsOpen);
    metrics.seriesActive.set(st.seriesActive + sink.trackedSeries());
    if (limits) metrics.limitsSeriesActive.set({ scope: "global" }, limits.activeSeries());
    for (const l of router.limitStats(now())) metrics.limitsSeriesActive.set({ scope: l.scope }, l.active);
  }

  function status(): GatewayStatus {
    const depth = outbox?.depth() ?? { rows: 0, bytes: 0, samples: 0, oldestMs: null };
    return {
      version: VERSION,
      ready: gateway.ready(),
      uptime_seconds: Math.round((now() - startedAt) / 1000),
      mqtt: { listen: gateway.mqttAddress(), connected_clients: broker?.connectedClients() ?? 0 },
      outbox: {
        path: config.storage.path,
        rows: depth.rows,
        bytes: depth.bytes,
        samples: depth.samples,
        oldest_age_seconds: depth.oldestMs === null ? null : Math.max(0, (now() - depth.oldestMs) / 1000),
        dead_letter_rows: outbox?.deadLetterDepth().rows ?? 0,
      },
      storage: {
        full: durability?.refusal() ?? null,
        journal_rows: durability?.stats().journalRows ?? 0,
        journal_bytes: durability?.stats().journalBytes ?? 0,
        checkpoint_seq: durability?.stats().checkpointSeq ?? 0,
      },
      targets: senders.map((s) => targetStatus(s.status())),
    };
  }

  const gateway: Gateway = {
    config,
    metrics,
    async start() {
      const t0 = Date.now();
      outbox = openOutbox(config.storage, metrics, log, () => durability?.stats().journalBytes ?? 0);
      senders = config.remote_write.map(
        (rw, i) => new TargetSender({ name: names[i]!, config: rw, outbox: outbox!, metrics, log: log.child({ target: names[i] }), userAgent: USER_AGENT }),
      );
      for (const s of senders) s.start();
      sink = new OutboxSink(
        outbox,
        config.remote_write.map((rw, i) => ({ name: names[i]!, maxSamplesPerSend: rw.queue_config.max_samples_per_send, shards: rw.queue_config.shards, writeRelabelConfigs: rw.write_relabel_configs })),
        metrics,
        log,
      );
      const s = sink;
      pipeline = new Pipeline(stages, (samples) => (rawCommitted ? s.remember(samples) : s.write(samples)));
      const maxBytes = parseByteSize(config.storage.max_bytes) ?? 0;
      durability = new Durability({
        outbox,
        sink,
        aggregate,
        process: processEntry,
        metrics,
        log,
        now,
        checkpointIntervalMs,
        // A crash replays at most this much; a quarter of the storage bound, at most 64 MiB.
        journalMaxBytes: maxBytes > 0 ? Math.min(maxBytes / 4, 64 * 1024 * 1024) : 64 * 1024 * 1024,
        storagePath: config.storage.path,
      });
      durability.recover();
      const d = durability;
      committer = new GroupCommitter({
        commit: (entries) => d.commitGroup(entries),
        committed: (entries, last) => d.committedGroup(entries, last),
        failed: (err, entries) => d.groupFailed(err, entries),
        refused: () => metrics.messagesDropped.inc({ reason: "storage_full" }),
      });
      const c = committer;
      d.onRefusalChange = (reason) => c.setRefusal(reason);
      c.setRefusal(d.refusal());
      for (const r of registries) r.start();
      timer = setInterval(() => tick(false), Math.min(flushIntervalMs, 1000));
      timer.unref();
      http = await startHttpServer({ listen: config.http.listen, log, registry: metrics.registry, isReady: () => gateway.ready(), status });
      broker = new Broker({
        listen: config.mqtt.listen,
        maxPayloadBytes: config.mqtt.max_payload_bytes,
        metrics,
        log: log.child({ component: "mqtt" }),
        onMessage: (topic, payload) => onMessage(topic, payload, now()),
        ...(options.ackBeforeDurable ? {} : { accept: (topic: string, payload: Buffer, clientId: string, qos: number) => c.accept({ topic, payload, clientId, receivedMs: now() }, qos) }),
      });
      // Open windows get their allowed lateness again from here: devices could not send while the gateway was down.
      d.resume(now());
      await broker.start();
      isReady = true;
      log.info({ mqtt: gateway.mqttAddress(), http: gateway.httpAddress(), targets: names, ms: Date.now() - t0 }, "edgegate started");
    },
    close() {
      closing ??= (async () => {
        isReady = false;
        const t0 = Date.now();
        await broker?.close();
        log.info({ ms: Date.now() - t0 }, "mqtt broker closed; flushing open windows");
        if (timer) clearInterval(timer);
        tick(true);
        // Give the senders a bounded time to deliver what is queued (the final windows too).
        const deadline = options.shutdownSendTimeoutMs ?? 5000;
        let timeout: NodeJS.Timeout | undefined;
        await Promise.race([gateway.drained(), new Promise<void>((r) => (timeout = setTimeout(r, deadline)))]);
        clearTimeout(timeout);
        await Promise.all(senders.map((s) => s.close(1000)));
        const left = outbox?.depth();
        log.info({ ms: Date.now() - t0, unsent_rows: left?.rows ?? 0 }, "senders stopped; unsent batches stay in the outbox for the next start");
        await http?.close();
        for (const r of registries) r.close();
        outbox?.close();
        pipeline = null;
        log.info({ ms: Date.now() - t0 }, "edgegate stopped");
      })();
      return closing;
    },
    mqttAddress() {
      const a = broker?.address();
      return a ? formatListen(a.host, a.port) : config.mqtt.listen;
    },
    httpAddress() {
      const a = http?.address();
      return a && typeof a !== "string" ? formatListen(a.address, a.port) : config.http.listen;
    },
    ready: () => isReady && (durability?.refusal() ?? null) === null,
    status,
    flushNow(final = false) {
      tick(final);
    },
    async drained() {
      await Promise.all(senders.map((s) => s.drained()));
    },
  };
  return gateway;
}
