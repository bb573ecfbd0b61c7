/**
 * The live fleet: one MQTT 3.1.1 client per vehicle (clientId = VIN, or the
 * Flink demo's vehicle id), a store-and-forward backlog per vehicle, a link
 * model that takes vehicles offline, and one scheduler for all of them.
 *
 * Telemetry values come from messages.ts, so they match `generateMessages`
 * for the same seed; a reading's time is the nominal schedule time on the
 * wall clock (start + offset + k·interval), kept through offline buffering.
 */
import { performance } from "node:perf_hooks";
import { checkSimOptions, createSimVehicles, type SimVehicle } from "./messages.js";
import { createFlinkGenerator, flinkRegion, flinkTopic, flinkVehicleId, type FlinkGenerator } from "./flink-events.js";
import { createLinkModel, DEFAULT_CONNECTIVITY, type ConnectivityOptions } from "./connectivity.js";
import type { TlsOptions } from "./link.js";
import { isFlinkMode, MODES, type PayloadMode } from "./payloads.js";
import type { LedgerWriter } from "./ledger.js";
import { VehicleLink } from "./vehicle-link.js";
import { createStatsCounters, snapshot, type FleetStats, type StatsCounters } from "./fleet-stats.js";

export { generateMessages, type GeneratedMessage } from "./messages.js";
export type { FleetStats } from "./fleet-stats.js";

export interface FleetOptions {
  url: string;
  vehicles: number;
  /** Reading interval per vehicle (telemetry modes); in flink-events mode the default rate is vehicles / interval. */
  intervalMs: number;
  /** Stop producing readings after this long; 0 or absent = run until stop(). */
  durationMs?: number;
  seed: number;
  qos?: 0 | 1;
  topicPrefix?: string;
  fleets?: number;
  username?: string;
  password?: string;
  /** Wall clock for reading times (default Date.now); scheduling always uses the monotonic clock. */
  now?: () => number;
  /** How long a batch of vehicles may take to connect before startFleet rejects (default 10 s). */
  connectTimeoutMs?: number;
  /** Payload mode (default "telemetry"). */
  mode?: PayloadMode;
  /** batch and flink-batch modes: readings (events) per message (default 10). */
  batchSize?: number;
  /**
   * flink-batch: a partial batch goes out once its oldest event is this old
   * (default: no age bound, every message carries exactly batchSize events).
   */
  batchMaxAgeMs?: number;
  /** Most readings in one message when a backlog is replayed (default 100). */
  replayBatch?: number;
  /** flink-events / flink-batch: total events per second (default vehicles · 1000 / intervalMs). */
  ratePerS?: number;
  /** Per-vehicle backlog bound, in readings; the oldest is overwritten (default 3600). */
  bufferSize?: number;
  /** MQTT clean session (default true); false = persistent session. */
  clean?: boolean;
  connectivity?: Partial<ConnectivityOptions>;
  tls?: TlsOptions;
  /** Reconnect backoff bounds (default 500 ms … 30 s, full jitter). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** At the end, how long to wait for backlogs to drain before disconnecting anyway (default 30 s). */
  drainTimeoutMs?: number;
  /** Records every delivered message (closed by the caller). */
  ledger?: LedgerWriter;
  /** Worker slice: drive only vehicles [first, first + count) of a fleet of `vehicles`. */
  first?: number;
  count?: number;
}

export interface Fleet {
  stats(): FleetStats;
  /** Resolves once the run ended (duration or stop()) and backlogs drained (or the drain deadline passed). Never rejects. */
  done: Promise<FleetStats>;
  stop(): Promise<FleetStats>;
  /** Resolves when nothing is buffered or in flight at this moment's end (e.g. after an outage). */
  allSent(): Promise<FleetStats>;
  /** Takes vehicle `index` (0-based in this process's slice) offline for durationMs, as an outage would. */
  disconnect(index: number, durationMs: number): void;
  /** Client ids, in slice order. */
  vehicleIds(): string[];
}

/** Vehicles connected concurrently at start: 10,000 vehicles start in 50 rounds, not one SYN storm. */
const CONNECT_BATCH = 200;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_INFLIGHT_PER_VEHICLE = 20;
/** The scheduler wakes at most this often; readings due in between go out together. */
const TICK_MS = 5;
/** At most this much of the schedule is produced in one turn of the event loop when behind. */
const MAX_CATCH_UP_MS = 50;

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  checkSimOptions(opts);
  if (!URL.canParse(opts.url)) throw new RangeError(`url is not a broker URL (e.g. mqtt://127.0.0.1:1883): ${JSON.stringify(opts.url)}`);
  const qos = opts.qos ?? 1;
  if (qos !== 0 && qos !== 1) throw new RangeError(`qos must be 0 or 1, got ${String(qos)}`);
  const mode = opts.mode ?? "telemetry";
  if (!MODES.includes(mode)) throw new RangeError(`mode must be one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  const durationMs = opts.durationMs ?? 0;
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new RangeError(`durationMs must be ≥ 0, got ${durationMs}`);
  const first = opts.first ?? 0;
  const count = opts.count ?? opts.vehicles - first;
  const now = opts.now ?? Date.now;
  const batchSize = opts.batchSize ?? 10;
  const replayBatch = Math.max(opts.replayBatch ?? 100, mode === "batch" || mode === "flink-batch" ? batchSize : 1);
  const batchMaxAgeMs = opts.batchMaxAgeMs;
  if (batchMaxAgeMs !== undefined && !(batchMaxAgeMs > 0)) throw new RangeError(`batchMaxAgeMs must be > 0, got ${batchMaxAgeMs}`);
  const flink = isFlinkMode(mode);
  const connectivity: ConnectivityOptions = { ...DEFAULT_CONNECTIVITY, ...opts.connectivity };
  const c: StatsCounters = createStatsCounters(count);
  const wallStart = now();

  const sims: SimVehicle[] = flink ? [] : createSimVehicles(opts, first, count);
  let settledWaiters: (() => void)[] = [];
  let settleCheck: NodeJS.Timeout | undefined;
  const checkSettled = (): void => {
    settleCheck = undefined;
    if (settledWaiters.length === 0 || !vehicles.every((v) => v.idle)) return;
    const waiters = settledWaiters;
    settledWaiters = [];
    for (const w of waiters) w();
  };
  const vehicles: VehicleLink[] = Array.from({ length: count }, (_, i) => {
    const index = first + i;
    const flinkId = flinkVehicleId(index);
    const id = flink ? flinkId : sims[i]!.vin;
    const topic = flink ? flinkTopic(flinkRegion(opts.seed, index), flinkId) : sims[i]!.topic;
    return new VehicleLink({
      id,
      topic,
      mode,
      qos,
      batchSize,
      replayBatch,
      bufferSize: opts.bufferSize ?? 3600,
      maxInflight: MAX_INFLIGHT_PER_VEHICLE,
      model: createLinkModel(connectivity, opts.seed, index, wallStart),
      link: {
        url: opts.url,
        clean: opts.clean ?? true,
        connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        minBackoffMs: opts.minBackoffMs ?? 500,
        maxBackoffMs: opts.maxBackoffMs ?? 30_000,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        ...(opts.tls ? { tls: opts.tls } : {}),
      },
      onDelivered: (d) => {
        c.sent++;
        c.readings += d.readings.length;
        opts.ledger?.record(d.vehicle, d.topic, now(), d.payload, d.readings);
      },
      onError: (err) => {
        c.errors++;
        c.lastError = err;
      },
      onSettled: () => {
        // Checking 10,000 vehicles on every ack would be quadratic while draining: check at most every 20 ms.
        if (settledWaiters.length === 0 || settleCheck !== undefined) return;
        settleCheck = setTimeout(checkSettled, 20);
      },
    });
  });
  const stats = (): FleetStats => snapshot(c, vehicles, performance.now());

  // Connect in rounds; a refusal or the deadline fails the whole start (then nothing is left connected).
  try {
    for (let i = 0; i < vehicles.length; i += CONNECT_BATCH) {
      const batch = vehicles.slice(i, i + CONNECT_BATCH);
      const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const waiting = batch.filter((v) => !v.link.connected).length;
          const why = c.lastError ? `: ${c.lastError.message}` : "";
          reject(new Error(`could not connect ${waiting} vehicle(s) to ${opts.url} within ${timeoutMs} ms${why}`));
        }, timeoutMs);
      });
      try {
        await Promise.race([deadline, Promise.all(batch.map((v) => v.connect()))]);
      } finally {
        clearTimeout(timer);
      }
    }
  } catch (err) {
    await Promise.all(vehicles.map((v) => v.link.close(true)));
    throw err;
  }

  // ---- scheduling: one timer for the whole fleet, walking readings in due order.
  const t0 = performance.now();
  c.t0 = t0;
  const wallT0 = now();
  const endAt = durationMs > 0 ? t0 + durationMs : Infinity;
  const intervalMs = opts.intervalMs;
  const rate = opts.ratePerS ?? (opts.vehicles * 1000) / intervalMs;
  if (!(rate > 0)) throw new RangeError(`ratePerS must be > 0, got ${rate}`);
  // flink: this slice's share of the fleet's rate.
  const sliceRate = (rate * count) / opts.vehicles;
  const gen: FlinkGenerator | undefined = flink ? createFlinkGenerator({ seed: opts.seed, first, count }) : undefined;
  let cursor = 0; // telemetry: next vehicle in this round
  let round = 0; // telemetry: k
  let emitted = 0; // flink: events so far
  let timer: NodeJS.Timeout | undefined;
  let producing = true;
  // flink-batch with an age bound: vehicles whose partial batch started, with its oldest event's wall time,
  // oldest first (events are produced in time order), checked once per tick instead of a timer per vehicle.
  const ageBound = mode === "flink-batch" && batchMaxAgeMs !== undefined;
  const ageVehicles: number[] = [];
  const ageTimes: number[] = [];
  let ageHead = 0;
  const flushAged = (wallNow: number): void => {
    const cutoff = wallNow - batchMaxAgeMs!;
    const end = ageVehicles.length;
    while (ageHead < end && ageTimes[ageHead]! <= cutoff) {
      const i = ageVehicles[ageHead]!;
      ageHead++;
      const left = vehicles[i]!.flushOlderThan(cutoff);
      // Not sent (offline, reconnecting, in-flight bound) or a newer batch begun: check again later.
      if (!Number.isNaN(left)) {
        ageVehicles.push(i);
        ageTimes.push(left);
      }
    }
    if (ageHead > 4096 && ageHead * 2 > ageVehicles.length) {
      ageVehicles.splice(0, ageHead);
      ageTimes.splice(0, ageHead);
      ageHead = 0;
    }
  };

  const nextDue = (): number =>
    gen ? t0 + (emitted * 1000) / sliceRate : t0 + sims[cursor]!.offsetMs + round * intervalMs;

  const produce = (): void => {
    timer = undefined;
    if (!producing) return;
    const t = performance.now();
    // Lag = how late the oldest reading still to be taken is: 0 while the schedule is kept.
    c.lagMs = Math.max(0, t - nextDue());
    // Behind schedule, catch up at most MAX_CATCH_UP_MS of the schedule per turn and let the sockets drain in
    // between: one synchronous burst of a second's events would sit in userland write buffers, not on the wire.
    const limit = t - Math.max(0, c.lagMs - MAX_CATCH_UP_MS);
    for (let due = nextDue(); due <= limit; due = nextDue()) {
      if (due >= endAt) {
        void finish(true);
        return;
      }
      const wall = wallT0 + (due - t0);
      if (gen) {
        const { index, event } = gen.next(Math.round(wall));
        emitted++;
        const v = vehicles[index - first]!;
        v.add(event, wall);
        if (ageBound && v.backlog.length === 1) {
          ageVehicles.push(index - first);
          ageTimes.push(wall);
        }
      } else {
        const sim = sims[cursor]!;
        if (round > 0) sim.advance(intervalMs);
        vehicles[cursor]!.add(sim.payload(Math.round(wall)), wall);
        if (++cursor === sims.length) {
          cursor = 0;
          round++;
        }
      }
    }
    if (ageBound) flushAged(wallT0 + (performance.now() - t0));
    if (nextDue() <= performance.now() - TICK_MS) {
      timer = setTimeout(produce, 0);
      return;
    }
    let wait = Math.max(TICK_MS, nextDue() - performance.now());
    // At a low rate the next event may be seconds away: wake in time for the age bound of the batches waiting.
    if (ageBound && ageHead < ageVehicles.length) wait = Math.min(wait, Math.max(TICK_MS, batchMaxAgeMs! / 10));
    timer = setTimeout(produce, Math.min(wait, Math.max(0, endAt - performance.now())));
  };

  const allSent = (): Promise<FleetStats> =>
    new Promise((resolve) => {
      if (vehicles.every((v) => v.idle)) return resolve(stats());
      settledWaiters.push(() => resolve(stats()));
    });

  let finishing: Promise<FleetStats> | undefined;
  let resolveDone!: (s: FleetStats) => void;
  const done = new Promise<FleetStats>((resolve) => (resolveDone = resolve));
  const finish = (ranOut = false): Promise<FleetStats> =>
    (finishing ??= (async () => {
      producing = false;
      clearTimeout(timer);
      // Elapsed is the producing window (the whole duration when it ran out), not the drain after it.
      // A process that fell behind took longer than the duration: report the real time, not the nominal one.
      c.frozenElapsedMs = ranOut ? Math.max(durationMs, performance.now() - t0) : performance.now() - t0;
      // End of the run: every outage ends, partial batches go out, backlogs drain (bounded in time).
      for (const v of vehicles) {
        v.flushing = true;
        v.setCoverage(true);
        v.pump();
      }
      const drainMs = opts.drainTimeoutMs ?? 30_000;
      let drainTimer: NodeJS.Timeout | undefined;
      await Promise.race([allSent(), new Promise<void>((r) => (drainTimer = setTimeout(r, drainMs)))]);
      clearTimeout(drainTimer);
      clearTimeout(settleCheck);
      const result = stats();
      c.final = result;
      // Whatever is still unacknowledged after the deadline is abandoned (force), not waited on forever.
      const force = !vehicles.every((v) => v.idle);
      await Promise.all(vehicles.map((v) => v.link.close(force)));
      resolveDone(result);
      return result;
    })());

  timer = setTimeout(produce, 0);
  return {
    stats,
    done,
    stop: () => finish(),
    allSent,
    disconnect(index, ms) {
      const v = vehicles[index];
      if (!v) throw new RangeError(`no vehicle ${index} in this fleet (0..${vehicles.length - 1})`);
      v.forceOffline(now(), ms);
    },
    vehicleIds: () => vehicles.map((v) => v.id),
  };
}
