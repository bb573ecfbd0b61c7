/**
 * The live fleet: one MQTT 3.1.1 client per vehicle (clientId = VIN), each
 * publishing its telemetry on its own timer. Values come from messages.ts, so
 * they match `generateMessages` for the same seed; only `ts` is the wall clock.
 */
import { performance } from "node:perf_hooks";
import mqtt, { type MqttClient } from "mqtt";
import { checkSimOptions, createSimVehicles, type SimVehicle } from "./messages.js";

export { generateMessages, type GeneratedMessage } from "./messages.js";

export interface FleetOptions {
  url: string;
  vehicles: number;
  intervalMs: number;
  /** Stop after this long; 0 or absent = run until stop(). */
  durationMs?: number;
  seed: number;
  qos?: 0 | 1;
  topicPrefix?: string;
  fleets?: number;
  username?: string;
  password?: string;
  /** Clock for the payload `ts` (default Date.now); scheduling always uses the monotonic clock. */
  now?: () => number;
  /** How long a batch of vehicles may take to connect before startFleet rejects (default 10 s). */
  connectTimeoutMs?: number;
}

export interface FleetStats {
  vehicles: number;
  connected: number;
  sent: number;
  errors: number;
  elapsedMs: number;
}

export interface Fleet {
  stats(): FleetStats;
  /** Resolves when duration elapsed (or stop()) and all publishes are acknowledged (QoS 1) / flushed. Never rejects. */
  done: Promise<FleetStats>;
  stop(): Promise<FleetStats>;
}

/** Vehicles connected concurrently: 1000 vehicles start in 20 rounds instead of one SYN storm. */
const CONNECT_BATCH = 50;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Per-vehicle bound on unacknowledged publishes; beyond it a tick is skipped and counted as an error. */
const MAX_INFLIGHT_PER_VEHICLE = 100;
/** How long stop() waits for outstanding PUBACKs before disconnecting anyway. */
const DRAIN_DEADLINE_MS = 5_000;
/** MQTT's own CONNACK refusal codes (1–5, [MQTT-3.2.2-5]) mean retrying will not help. */
const isConnackRefusal = (err: Error & { code?: unknown }): boolean => typeof err.code === "number";

interface Running {
  sim: SimVehicle;
  client: MqttClient;
  k: number;
  inflight: number;
  timer: NodeJS.Timeout | undefined;
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  checkSimOptions(opts);
  if (!URL.canParse(opts.url)) throw new RangeError(`url is not a broker URL (e.g. mqtt://127.0.0.1:1883): ${JSON.stringify(opts.url)}`);
  const qos = opts.qos ?? 1;
  if (qos !== 0 && qos !== 1) throw new RangeError(`qos must be 0 or 1, got ${String(qos)}`);
  const durationMs = opts.durationMs ?? 0;
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new RangeError(`durationMs must be ≥ 0, got ${durationMs}`);
  const now = opts.now ?? Date.now;
  const sims = createSimVehicles(opts);

  let connected = 0;
  let sent = 0;
  let errors = 0;
  let inflight = 0;
  let lastError: Error | undefined;
  const running: Running[] = [];

  const connectOne = (sim: SimVehicle): Running => {
    const client = mqtt.connect(opts.url, {
      clientId: sim.vin,
      protocolVersion: 4, // aedes speaks MQTT 3.1.1 only
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
    let up = false;
    client.on("connect", () => {
      if (!up) connected++;
      up = true;
    });
    client.on("close", () => {
      if (up) connected--;
      up = false;
    });
    client.on("error", (err) => {
      errors++;
      lastError = err;
    });
    return { sim, client, k: 0, inflight: 0, timer: undefined };
  };

  const waitConnected = (r: Running, deadline: Promise<never>): Promise<void> =>
    Promise.race([
      deadline,
      new Promise<void>((resolve, reject) => {
        if (r.client.connected) return resolve();
        const onConnect = (): void => {
          r.client.off("error", onError);
          resolve();
        };
        const onError = (err: Error): void => {
          if (!isConnackRefusal(err)) return; // network errors: reconnectPeriod retries until the deadline
          r.client.off("connect", onConnect);
          r.client.off("error", onError);
          reject(new Error(`broker ${opts.url} refused vehicle ${r.sim.vin}: ${err.message}`));
        };
        r.client.once("connect", onConnect);
        r.client.on("error", onError);
      }),
    ]);

  try {
    for (let i = 0; i < sims.length; i += CONNECT_BATCH) {
      const batch = sims.slice(i, i + CONNECT_BATCH).map(connectOne);
      running.push(...batch);
      const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const waiting = batch.filter((r) => !r.client.connected).length;
          const why = lastError ? `: ${lastError.message}` : "";
          reject(new Error(`could not connect ${waiting} vehicle(s) to ${opts.url} within ${timeoutMs} ms${why}`));
        }, timeoutMs);
      });
      try {
        await Promise.all(batch.map((r) => waitConnected(r, deadline)));
      } finally {
        clearTimeout(timer);
      }
    }
  } catch (err) {
    await Promise.all(running.map((r) => r.client.endAsync(true).catch(() => undefined)));
    throw err;
  }

  const t0 = performance.now();
  const endAt = durationMs > 0 ? t0 + durationMs : Infinity;
  let stopping = false;
  let finishedVehicles = 0;
  let final: FleetStats | undefined;
  let onDrained: (() => void) | undefined;
  let resolveDone!: (s: FleetStats) => void;
  const done = new Promise<FleetStats>((resolve) => (resolveDone = resolve));

  // After the run, stats() keeps returning the final figures (connected = at the end of the run, before disconnecting).
  const stats = (): FleetStats =>
    final ?? { vehicles: sims.length, connected, sent, errors, elapsedMs: performance.now() - t0 };

  const publish = (r: Running): void => {
    if (r.inflight >= MAX_INFLIGHT_PER_VEHICLE) {
      errors++;
      return;
    }
    r.inflight++;
    inflight++;
    const body = JSON.stringify(r.sim.payload(now()));
    r.client.publish(r.sim.topic, body, { qos }, (err) => {
      r.inflight--;
      inflight--;
      if (err) errors++;
      else sent++;
      if (inflight === 0) onDrained?.();
    });
  };

  const schedule = (r: Running): void => {
    const due = t0 + r.sim.offsetMs + r.k * opts.intervalMs;
    if (due >= endAt) {
      if (++finishedVehicles === running.length) void finish();
      return;
    }
    // Timers are set from the nominal schedule, not from the previous tick, so they do not drift.
    r.timer = setTimeout(tick, Math.max(0, due - performance.now()), r);
  };

  function tick(r: Running): void {
    r.timer = undefined;
    if (stopping) return;
    if (r.k > 0) r.sim.advance(opts.intervalMs);
    publish(r);
    r.k++;
    schedule(r);
  }

  let finishing: Promise<FleetStats> | undefined;
  const finish = (): Promise<FleetStats> =>
    (finishing ??= (async () => {
      stopping = true;
      for (const r of running) clearTimeout(r.timer);
      // Elapsed is the publishing window (the whole duration when it ran out), not the drain and disconnect after it.
      const elapsedMs = Math.max(performance.now() - t0, finishedVehicles === running.length ? durationMs : 0);
      if (inflight > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, DRAIN_DEADLINE_MS);
          onDrained = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      const result = { ...stats(), elapsedMs };
      final = result;
      // Whatever is still unacknowledged after the deadline is abandoned (force), not waited on forever.
      const force = inflight > 0;
      await Promise.all(running.map((r) => r.client.endAsync(force).catch(() => undefined)));
      resolveDone(result);
      return result;
    })());

  for (const r of running) schedule(r);
  return { stats, done, stop: finish };
}
