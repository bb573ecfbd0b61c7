import pino, { type Logger } from "pino";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config/schema.js";
import { createMetrics, type Metrics } from "./metrics/catalogue.js";
import { initKnownLabels } from "./metrics/known-labels.js";
import { RepeatLimiter } from "./logging/repeat-limiter.js";
import { Broker } from "./ingest/broker.js";
import { formatListen } from "./config/listen-address.js";
import { Core, type CoreDeps } from "./core.js";
import type { Sample } from "./prom/sample.js";
import { Lifecycle, type Component } from "./lifecycle.js";
import { OutboxSink } from "./remote-write/pending-series.js";
import { queueTarget } from "./remote-write/queue-names.js";
import { Durability } from "./recovery.js";
import { GroupCommitter, NotAcceptingError, type JournalEntry } from "./ingest/durable-ack.js";
import type { Outbox } from "./outbox/outbox.js";
import { openOutbox } from "./outbox/open.js";
import type { Sender } from "./remote-write/sender.js";
import { TargetSender } from "./remote-write/target-sender.js";
import { startHttpServer, type HttpServer } from "./http/server.js";
import { redactUrl } from "./http/redact.js";
import type { ListenerStatus } from "./ingest/listeners.js";
import type { DropReason } from "./metrics/drop-reasons.js";
import { LiveStats } from "./http/live-stats.js";
import { registerStatusPage } from "./http/status-page.js";
import { USER_AGENT, VERSION } from "./version.js";
import { Reloader, registerReloadRoute, restartOnlyChanges, withRunningListeners, type ReloadReport, type ReloadResult } from "./reload.js";
import { TickTimer } from "./tick-timer.js";

export interface GatewayOptions {
  log?: Logger;
  /** Wall clock, injectable for tests. */
  now?: () => number;
  /** How long close() gives the senders to deliver what is queued. */
  shutdownSendTimeoutMs?: number;
  /** The file the config came from: SIGHUP and POST /-/reload re-read it (default: the built-in defaults). */
  configFile?: string;
  /**
   * Benchmark baseline only: PUBACK before the message is durable (aedes's
   * default, edgegate before issue #11), messages not journaled. Never set
   * in production: a kill -9 then loses acknowledged messages.
   */
  ackBeforeDurable?: boolean;
  /** Benchmark comparison only: journal group commits on the main thread (blocking the event loop for each fsync) instead of the writer thread. */
  journalOnMainThread?: boolean;
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
  /** Replaces topic rules, stages and targets with a validated config; throws (keeping the running config) when it cannot be built. */
  applyConfig(next: Config): Promise<ReloadReport>;
  /** Re-reads the config file and applies it (SIGHUP, POST /-/reload); never throws: the result says why it was refused. */
  reloadConfig(trigger: string): Promise<ReloadResult>;
}

export interface GatewayStatus {
  version: string;
  ready: boolean;
  uptime_seconds: number;
  mqtt: { listen: string; connected_clients: number; listeners: ListenerStatus[]; auth: ReturnType<Broker["auth"]["describe"]> | null };
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
  /** Set on a target removed by a config reload whose queue still holds batches (kept until purged). */
  removed?: boolean;
}

function targetStatus(s: ReturnType<Sender["status"]>): TargetStatus {
  return {
    name: s.name,
    url: redactUrl(s.url),
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

/** What the outbox sink needs of each remote-write target. */
function sinkTargets(config: Config, names: readonly string[]) {
  return config.remote_write.map((rw, i) => ({ name: names[i]!, maxSamplesPerSend: rw.queue_config.max_samples_per_send, shards: rw.queue_config.shards, writeRelabelConfigs: rw.write_relabel_configs }));
}

/** The drop, ingest and registry callbacks of the core: self-metrics and log lines. */
function coreDeps(metrics: Metrics, log: Logger, replayingCommitted: () => boolean): CoreDeps {
  const repeats = new RepeatLimiter();
  return {
    onDrop: (reason, n) => metrics.samplesDropped.inc({ reason }, n),
    onMessageDropped: (reason) => metrics.messagesDropped.inc({ reason }),
    // Replayed messages whose samples the outbox already has were counted by the run that committed them.
    onSamplesIn: (n) => void (replayingCommitted() || metrics.samplesIn.inc(n)),
    onLabelValuesReplaced: (reason, n) => metrics.labelValuesReplaced.inc({ reason }, n),
    onEnrichMiss: (registry, n) => metrics.enrichMisses.inc({ registry }, n),
    registryEvents: {
      // A failed reload keeps the previous data: logged and counted, never fatal.
      onReload(registry, err, entries) {
        metrics.enrichReloads.inc({ registry, result: err ? "failure" : "success" });
        metrics.enrichEntries.set({ registry }, entries);
        // The same failure repeated every poll is logged once, then with the count of repeats suppressed.
        const allowed = err ? repeats.check(`registry:${registry}`, err.message) : null;
        if (allowed) log.warn({ err: err!.message, registry, ...(allowed.suppressed > 0 ? { suppressed: allowed.suppressed } : {}) }, "device registry reload failed; keeping the previous data");
        else if (!err) log.info({ registry, entries }, "device registry loaded");
      },
    },
  };
}

/** What the running gateway holds; each part is set by its component's start(). */
interface Parts {
  outbox: Outbox | null;
  /** Ingest journal, checkpoint and outbox commits in one transaction; replay at start (recovery.ts). */
  durability: Durability | null;
  /** Journals accepted publishes in groups before they are acknowledged (absent with ackBeforeDurable). */
  committer: GroupCommitter | null;
  sink: OutboxSink | null;
  senders: TargetSender[];
  http: HttpServer | null;
  broker: Broker | null;
  timer: TickTimer | null;
  /** Between the pipeline component's start and close: messages are processed, the clock ticks. */
  accepting: boolean;
}

/** Shared by the components: the config, the core and the gateway's hooks. */
interface Context {
  /** The config the gateway started with (listeners and storage: a reload keeps them). */
  config: Config;
  /** The current core: a config reload replaces it. */
  readonly core: Core;
  metrics: Metrics;
  log: Logger;
  /** The current target names (a reload changes them). */
  readonly names: string[];
  parts: Parts;
  /** More HTTP routes on the gateway's server (status page, reload). */
  routes: ((app: FastifyInstance) => void)[];
  sendDeadlineMs: number;
  /** Creates the durability layer over the outbox and sink, restores the checkpoint and replays the journal. */
  recover(): void;
  tick(final: boolean): void;
  /** One device message without the journal (ackBeforeDurable): null when it gave samples, else why it gave none. */
  onMessage(topic: string, payload: Buffer): string | null;
  /** One HTTP push: journaled like a QoS 1 publish, then processed; null when it gave samples, else why it gave none. */
  push(topic: string, payload: Buffer, clientId: string): Promise<string | null>;
  /** Durable acceptance for the broker (PUBACK after the journal commit), or undefined (ackBeforeDurable). */
  accept: ((topic: string, payload: Buffer, clientId: string, qos: number) => Promise<void>) | undefined;
  now(): number;
  status(): GatewayStatus;
  isReady(): boolean;
  drained(): Promise<void>;
}

/** The gateway's components in start order (downstream first); the lifecycle closes them in reverse. */
function components(c: Context): Component[] {
  const { config, metrics, log, parts: p } = c;
  return [
    {
      name: "outbox",
      start() {
        p.outbox = openOutbox(config.storage, metrics, log, queueTarget, () => p.durability?.stats().journalBytes ?? 0);
      },
      close() {
        p.outbox?.close();
      },
    },
    {
      name: "http",
      async start() {
        // The broker is built here, its password and ACL files loaded before the HTTP server opens:
        // the push endpoint authenticates with them, and a missing or invalid file fails the start
        // before any port opens. The mqtt component starts its listeners; its close stops the file watchers.
        p.broker = new Broker({ mqtt: config.mqtt, maxPayloadBytes: config.mqtt.max_payload_bytes, limits: config.mqtt, metrics, log: log.child({ component: "mqtt" }), onMessage: c.onMessage, ...(c.accept ? { accept: c.accept } : {}) });
        const broker = p.broker;
        broker.loadAuth();
        try {
          p.http = await startHttpServer({
            listen: config.http.listen,
            log,
            registry: metrics.registry,
            isReady: c.isReady,
            status: c.status,
            web: { tls: config.http.tls_server_config, basicAuthUsers: config.http.basic_auth_users, metrics },
            push: { config: config.http.push, maxPayloadBytes: config.mqtt.max_payload_bytes, auth: broker.auth, metrics, onMessage: c.push, log },
            routes: c.routes,
          });
        } catch (err) {
          broker.auth.close();
          throw err;
        }
      },
      async close() {
        await p.http?.close();
        p.broker?.auth.close(); // the mqtt component's close does too, when it got to start
      },
    },
    {
      name: "senders",
      // Delivering what is queued (the final windows too) gets sendDeadlineMs; stopping the requests in flight one more second.
      closeDeadlineMs: c.sendDeadlineMs + 1500,
      start() {
        p.senders = config.remote_write.map(
          (rw, i) => new TargetSender({ name: c.names[i]!, config: rw, outbox: p.outbox!, metrics, log: log.child({ target: c.names[i] }), userAgent: USER_AGENT }),
        );
        for (const s of p.senders) s.start();
      },
      async close() {
        let timeout: NodeJS.Timeout | undefined;
        await Promise.race([c.drained(), new Promise<void>((r) => (timeout = setTimeout(r, c.sendDeadlineMs)))]);
        clearTimeout(timeout);
        await Promise.all(p.senders.map((s) => s.close(1000)));
        log.info({ unsent_rows: p.outbox?.depth().rows ?? 0 }, "senders stopped; unsent batches stay in the outbox for the next start");
      },
    },
    {
      name: "pipeline",
      start() {
        p.sink = new OutboxSink(p.outbox!, sinkTargets(config, c.names), metrics, log);
        // Before anything is accepted: the checkpoint, then the journal after it, through the core.
        c.recover();
        p.accepting = true;
        for (const r of c.core.registries) r.start();
        p.timer = new TickTimer(Math.min(config.storage.flush_interval, 1000), () => c.tick(false), () => c.core.built.aggregate.nextDueMs(), () => c.now());
        p.timer.start();
      },
      close() {
        // The broker is closed: flush every open window into the outbox.
        p.timer?.stop();
        p.committer?.flush();
        c.tick(true);
        p.durability?.close();
        p.accepting = false;
        for (const r of c.core.registries) r.close();
      },
    },
    {
      name: "mqtt",
      async start() {
        // Open windows get their allowed lateness again from here: devices could not send while the gateway was down.
        p.durability?.resume(c.now());
        await p.broker!.start();
      },
      close: () => p.broker?.close(),
    },
  ];
}

/**
 * Builds the gateway from a validated config (main.ts owns the process,
 * app.ts the gateway, so tests build it without signals). The processing is
 * the Core (core.ts); around it, components on one Lifecycle (lifecycle.ts):
 * start() downstream first (outbox → http, after the broker's password and
 * ACL files → senders → pipeline → broker), close() upstream first (broker →
 * final window flush → outbox commit → senders with a deadline → http →
 * SQLite), each phase logged with its duration and bounded by a deadline. A
 * config reload (reload.ts) replaces the core, the outbox sink and the changed
 * senders in place.
 */
export function buildGateway(config: Config, options: GatewayOptions = {}): Gateway {
  const log = options.log ?? pino({ level: "silent" });
  const now = options.now ?? Date.now;
  const metrics = createMetrics({ defaultMetrics: true });
  let current = config;
  let names = targetNames(config);
  const p: Parts = { outbox: null, durability: null, committer: null, sink: null, senders: [], http: null, broker: null, timer: null, accepting: false };
  /** During replay of messages whose raw samples the outbox already has: they only update the order guard. */
  let rawCommitted = false;
  // What the message being ingested came to, so the HTTP push can answer 400 with the first reason it gave no samples.
  // In the deps, so a core built by a config reload reports it too.
  const message: { firstDrop: DropReason | null; samples: number } = { firstDrop: null, samples: 0 };
  const baseDeps = coreDeps(metrics, log, () => rawCommitted);
  const deps: CoreDeps = {
    ...baseDeps,
    onDrop: (reason, n) => {
      message.firstDrop ??= reason;
      baseDeps.onDrop(reason, n);
    },
    onSamplesIn: (n) => {
      message.samples += n;
      baseDeps.onSamplesIn?.(n);
    },
  };
  const toSink = (samples: Sample[]) => (rawCommitted ? p.sink?.remember(samples) : p.sink?.write(samples));
  /** What each journaled message came to, for the HTTP push waiting on it (null: it gave samples). */
  const outcomes = new WeakMap<JournalEntry, string | null>();
  let core = new Core(config, deps, toSink);
  /** Targets removed by a reload whose queues still hold batches: reported until purged. */
  const removedTargets = new Map<string, string>();
  initKnownLabels(metrics, names, core.registries.map((r) => r.name));
  const checkpointIntervalMs = config.storage.checkpoint_interval;
  let staleMarkersCounted = 0;
  let isReady = false;
  let closing: Promise<void> | null = null;
  const startedAt = now();

  /** Runs one device message through the core; returns null when it gave samples, else why it gave none. */
  function ingestOne(topic: string, payload: Buffer, atMs: number): string | null {
    message.firstDrop = null;
    message.samples = 0;
    if (!core.ingest(topic, payload, atMs)) return "no_topic_rule";
    return message.samples > 0 ? null : (message.firstDrop ?? "no_samples");
  }

  /** A device message without the journal (ackBeforeDurable: the broker's published handler). */
  function onMessage(topic: string, payload: Buffer): string | null {
    if (!p.accepting) return "not_ready";
    const at = now();
    p.timer?.poke(at);
    return ingestOne(topic, payload, at);
  }

  /**
   * An HTTP push: journaled in the same group commits as MQTT publishes, so a
   * 204 means what a PUBACK means (durable, processed); refused while the disk
   * is full, as a publish is.
   */
  async function push(topic: string, payload: Buffer, clientId: string): Promise<string | null> {
    if (!p.accepting) return "not_ready";
    const committer = p.committer;
    if (!committer) return onMessage(topic, payload);
    const entry: JournalEntry = { topic, payload, clientId, receivedMs: now() };
    outcomes.set(entry, null); // registered: processEntry records what it came to
    try {
      await committer.accept(entry, 1);
    } catch (err) {
      if (err instanceof NotAcceptingError) return "storage_full";
      throw err;
    }
    await p.durability?.settled(); // processing is held while a checkpoint is written off the event loop
    committer.processCommitted(); // a 204 reports what the message came to
    return outcomes.get(entry) ?? null;
  }

  function tick(final: boolean): void {
    if (!p.accepting || !p.sink || !p.durability) return;
    // A checkpoint being written off the event loop holds the state: no window is flushed meanwhile.
    if (!final && p.durability.busy()) return;
    const aggregate = core.built.aggregate;
    if (final) p.durability.settle();
    if (final) p.committer?.flush();
    // A window due now closes once what arrived before its close is processed: what arrived later waits (in slices after this turn).
    const due = final ? -Infinity : aggregate.lastDueMs(now());
    if (due > -Infinity) p.committer?.processCommittedBefore(due);
    else p.committer?.processCommitted();
    const before = p.sink.pending();
    // Not past a message accepted and still waiting for its journal commit (it is processed at its arrival time).
    core.tick(Math.min(now(), p.committer?.oldestUnprocessedMs() ?? Infinity), final);
    // Outbox rows, journal position and (when windows were emitted) the checkpoint: one transaction.
    p.durability.commit(p.sink.pending() > before, final);
    metrics.staleMarkers.inc(aggregate.staleMarkers - staleMarkersCounted);
    staleMarkersCounted = aggregate.staleMarkers;
    p.broker?.updateGauges();
    const st = aggregate.stats();
    metrics.windowsOpen.set(st.windowsOpen);
    metrics.aggregationGroupsOpen.set(aggregate.groupsOpen());
    metrics.seriesActive.set(st.seriesActive + p.sink.trackedSeries());
    for (const l of core.limitStats(now())) metrics.limitsSeriesActive.set({ scope: l.scope }, l.active);
  }

  /** Runs one accepted (journaled) message through the core, with its arrival time as the clock (replay gives the same result). */
  function processEntry(entry: JournalEntry, committed: boolean): void {
    if (!p.sink) return;
    rawCommitted = committed;
    try {
      // Only an HTTP push waits for the outcome: a WeakMap entry per MQTT message cost GC time at high rates.
      const outcome = ingestOne(entry.topic, entry.payload, entry.receivedMs);
      if (outcomes.has(entry)) outcomes.set(entry, outcome);
    } catch (err) {
      // A bug in a stage must not take ingest down with it; count and log it.
      metrics.messagesDropped.inc({ reason: "internal_error" });
      log.error({ err, topic: entry.topic }, "failed to process message");
    } finally {
      rawCommitted = false;
    }
  }

  /** The durability layer over the outbox and the current sink and core; restores and replays (before anything is accepted). */
  function recover(): void {
    const maxBytes = config.storage.max_bytes;
    const d = (p.durability = new Durability({
      outbox: p.outbox!,
      sink: () => p.sink!,
      core: () => core,
      process: processEntry,
      metrics,
      log,
      now,
      checkpointIntervalMs,
      // A crash replays at most this much; a quarter of the storage bound, at most 64 MiB.
      journalMaxBytes: maxBytes > 0 ? Math.min(maxBytes / 4, 64 * 1024 * 1024) : 64 * 1024 * 1024,
      storagePath: config.storage.path,
      writerThread: !options.journalOnMainThread,
    }));
    d.recover();
    if (options.ackBeforeDurable) return;
    const c = (p.committer = new GroupCommitter({
      commit: (entries) => d.commitGroup(entries),
      commitAsync: (entries, done, durable) => d.commitGroupAsync(entries, done, durable),
      waitIdle: () => d.waitIdle(),
      reportWaiting: () => d.reportWaiting(),
      receiveReports: () => d.receiveReports(),
      reported: () => {
        d.groupReported();
        p.timer?.reported(now()); // a report can free the clock a window's close waits for
      },
      committed: (entries, last) => d.committedGroup(entries, last),
      failed: (err, entries) => d.groupFailed(err, entries),
      refused: () => metrics.messagesDropped.inc({ reason: "storage_full" }),
    }));
    d.onRefusalChange = (reason) => c.setRefusal(reason);
    d.processCommitted = () => c.processCommitted();
    d.holdProcessing = (on) => c.hold(on);
    c.setRefusal(d.refusal());
  }

  function status(): GatewayStatus {
    const depth = p.outbox?.depth() ?? { rows: 0, bytes: 0, samples: 0, oldestMs: null };
    return {
      version: VERSION,
      ready: gateway.ready(),
      uptime_seconds: Math.round((now() - startedAt) / 1000),
      mqtt: { listen: gateway.mqttAddress(), connected_clients: p.broker?.connectedClients() ?? 0, listeners: p.broker?.listenerStatus() ?? [], auth: p.broker?.auth.describe() ?? null },
      outbox: {
        path: config.storage.path,
        rows: depth.rows,
        bytes: depth.bytes,
        samples: depth.samples,
        oldest_age_seconds: depth.oldestMs === null ? null : Math.max(0, (now() - depth.oldestMs) / 1000),
        dead_letter_rows: p.outbox?.deadLetterDepth().rows ?? 0,
      },
      storage: {
        full: p.durability?.refusal() ?? null,
        journal_rows: p.durability?.stats().journalRows ?? 0,
        journal_bytes: p.durability?.stats().journalBytes ?? 0,
        checkpoint_seq: p.durability?.stats().checkpointSeq ?? 0,
      },
      targets: [...p.senders.map((s) => targetStatus(s.status())), ...removedStatus()],
    };
  }

  function removedStatus(): TargetStatus[] {
    const out: TargetStatus[] = [];
    for (const [name, url] of removedTargets) {
      const d = p.outbox?.depth(name);
      if (!d || d.rows === 0) {
        removedTargets.delete(name); // purged or delivered: no longer reported
        continue;
      }
      out.push({ name, url: redactUrl(url), last_success: null, last_error: null, pending_rows: d.rows, pending_samples: d.samples, dead_letter_rows: p.outbox?.deadLetterDepth(name).rows ?? 0, removed: true });
    }
    return out;
  }

  /**
   * Config reload: everything new (core, senders) is built first, so a failure
   * changes nothing; then it is swapped in one synchronous step, between two
   * messages. Aggregation rules whose definition is unchanged keep their open
   * windows; a removed rule's windows are flushed through the rest of the old
   * pipeline; unchanged targets keep their sender, a removed target its queue.
   */
  async function applyConfig(loaded: Config): Promise<ReloadReport> {
    if (!p.outbox || !p.sink || !p.durability || !p.accepting || closing) throw new Error("the gateway is not running");
    const outbox = p.outbox;
    const restartNeeded = restartOnlyChanges(current, loaded);
    const next = withRunningListeners(current, loaded);
    const nextNames = targetNames(next);
    const nextCore = new Core(next, deps, toSink);
    const report: ReloadReport = { targets: { added: [], changed: [], kept: [], removed: [] }, rules: { kept: 0, fresh: 0 }, restartNeeded };
    const running = new Map(p.senders.map((sd) => [sd.name, sd]));
    const runningConfig = new Map(current.remote_write.map((rw, i) => [names[i]!, JSON.stringify(rw)]));
    const nextSenders: TargetSender[] = [];
    const fresh: TargetSender[] = [];
    try {
      next.remote_write.forEach((rw, i) => {
        const name = nextNames[i]!;
        const old = running.get(name);
        if (old && runningConfig.get(name) === JSON.stringify(rw)) {
          nextSenders.push(old);
          report.targets.kept.push(name);
          return;
        }
        const sd = new TargetSender({ name, config: rw, outbox, metrics, log: log.child({ target: name }), userAgent: USER_AGENT });
        fresh.push(sd);
        nextSenders.push(sd);
        (old ? report.targets.changed : report.targets.added).push(name);
      });
    } catch (err) {
      for (const r of nextCore.registries) r.close();
      throw err;
    }
    // Swap (synchronous: no message can arrive half-way).
    p.durability.settle();
    tick(false);
    const aggregate = core.built.aggregate;
    const restored = nextCore.built.aggregate.restore(aggregate.snapshot());
    // The restart's grace (windows open at the last start) goes on in the new core.
    nextCore.built.aggregate.resume(p.durability.resumedAtMs);
    report.rules = { kept: restored.rules, fresh: next.aggregation.length - restored.rules };
    const retired = aggregate.flushRetired(new Set(nextCore.built.aggregate.fingerprints()));
    if (retired.length > 0) {
      const stages = core.pipeline.stages;
      let cur = retired;
      for (const st of stages.slice(stages.indexOf(aggregate) + 1)) cur = st.process(cur, now());
      p.sink.write(cur);
    }
    const oldCore = core;
    const oldSink = p.sink;
    const nextSink = new OutboxSink(outbox, sinkTargets(next, nextNames), metrics, log);
    const retiredSenders = p.senders.filter((sd) => !nextSenders.includes(sd));
    // A forced checkpoint at the swap: the retired windows' outputs, the new core's state and the journal
    // position in one transaction, so a crash after it replays nothing of the old config under the new one
    // (journaled-but-uncheckpointed messages are neither lost nor counted twice).
    core = nextCore;
    if (!p.durability.commit(true, false, true)) oldSink.flush(); // disk full: committed or counted as outbox_write_failed
    nextSink.adoptOrderState(oldSink);
    p.sink = nextSink;
    // Again with the new sink's views, so the checkpointed order guard matches them.
    p.durability.commit(false, false, true);
    p.senders = nextSenders;
    names = nextNames;
    current = next;
    staleMarkersCounted = 0;
    for (const r of oldCore.registries) r.close();
    for (const r of core.registries) r.start();
    initKnownLabels(metrics, nextNames, core.registries.map((r) => r.name));
    for (const sd of fresh) sd.start();
    // Senders of removed or changed targets stop after their request in flight; a removed target's queue stays.
    await Promise.all(retiredSenders.map((sd) => sd.close(1000)));
    for (const sd of retiredSenders) {
      if (nextNames.includes(sd.name)) continue;
      report.targets.removed.push(sd.name);
      const rows = outbox.depth(sd.name).rows;
      if (rows > 0) {
        removedTargets.set(sd.name, sd.status().url);
        log.warn({ target: sd.name, rows }, "target removed from the config; its queued batches are kept (edgegate outbox purge --pending --target NAME deletes them)");
      }
    }
    for (const name of nextNames) removedTargets.delete(name);
    return report;
  }
  const reloader = new Reloader({ get config() { return current; }, applyConfig }, options.configFile, log, metrics.registry, now);

  const live = new LiveStats({
    metrics,
    ready: () => gateway.ready(),
    uptimeSeconds: () => Math.round((now() - startedAt) / 1000),
    connectedDevices: () => p.broker?.connectedClients() ?? 0,
    targets: () =>
      p.senders.map((sd) => {
        const st = sd.status();
        const d = p.outbox?.depth(st.name);
        return { ...st, rows: d?.rows ?? 0, oldestMs: d?.oldestMs ?? null };
      }),
  });

  const lifecycle = new Lifecycle(log);
  const context: Context = {
    config,
    get core() {
      return core;
    },
    metrics,
    log,
    get names() {
      return names;
    },
    parts: p,
    routes: [(app) => registerStatusPage(app, live), (app) => registerReloadRoute(app, reloader)],
    sendDeadlineMs: options.shutdownSendTimeoutMs ?? 5000,
    recover,
    tick,
    onMessage,
    push,
    accept: options.ackBeforeDurable
      ? undefined
      : (topic, payload, clientId, qos) => {
          const at = now();
          p.timer?.poke(at); // a window's close tick overdue while the broker reads sockets runs after this message
          return p.committer!.accept({ topic, payload, clientId, receivedMs: at }, qos);
        },
    now,
    status,
    isReady: () => gateway.ready(),
    drained: () => gateway.drained(),
  };
  for (const component of components(context)) lifecycle.add(component);

  const gateway: Gateway = {
    get config() {
      return current;
    },
    metrics,
    applyConfig,
    reloadConfig: (trigger) => reloader.reload(trigger),
    async start() {
      const t0 = Date.now();
      await lifecycle.start();
      isReady = true;
      live.start();
      log.info({ mqtt: gateway.mqttAddress(), http: gateway.httpAddress(), listeners: p.broker?.listenerStatus() ?? [], https: config.http.tls_server_config !== undefined, targets: names, ms: Date.now() - t0 }, "edgegate started");
    },
    close() {
      closing ??= (async () => {
        isReady = false;
        live.stop();
        const t0 = Date.now();
        await lifecycle.close();
        // Also when start() never got to the pipeline: the registries were loaded when the core was built.
        for (const r of core.registries) r.close();
        log.info({ ms: Date.now() - t0 }, "edgegate stopped");
      })();
      return closing;
    },
    mqttAddress() {
      const a = p.broker?.address();
      return a ? formatListen(a.host, a.port) : config.mqtt.listen;
    },
    httpAddress() {
      const a = p.http?.address();
      return a && typeof a !== "string" ? formatListen(a.address, a.port) : config.http.listen;
    },
    ready: () => isReady && (p.durability?.refusal() ?? null) === null,
    status,
    flushNow(final = false) {
      tick(final);
    },
    async drained() {
      await Promise.all(p.senders.map((s) => s.drained()));
    },
  };
  return gateway;
}
