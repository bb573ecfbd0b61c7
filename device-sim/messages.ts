/**
 * What a fleet publishes, without the network: identities, schedule and
 * payloads. `startFleet` and `generateMessages` share this module, so the
 * values a live run sends are exactly the ones a test or benchmark can
 * generate offline (only `ts` differs: wall clock vs nominal schedule time).
 */
import { fleetAt, MODELS } from "./catalog.js";
import { createRng, deriveSeed, type Rng } from "./rng.js";
import { initialState, step, toPayload, type TelemetryPayload, type VehicleState } from "./vehicle.js";
import { makeVin, MAX_UNIQUE_VINS } from "./vin.js";

export const DEFAULT_TOPIC_PREFIX = "vehicles";
export const DEFAULT_FLEETS = 3;

/** One vehicle's identity and model state; `advance` then `payload` per publish. */
export interface SimVehicle {
  readonly index: number;
  readonly vin: string;
  readonly topic: string;
  /** Offset of this vehicle's first publish within an interval, so a fleet's publishes are spread, not synchronised. */
  readonly offsetMs: number;
  readonly state: VehicleState;
  advance(dtMs: number): void;
  payload(ts: number): TelemetryPayload;
}

export interface SimOptions {
  vehicles: number;
  intervalMs: number;
  seed: number;
  fleets?: number;
  topicPrefix?: string;
}

/** Throws an Error naming the option when a value is out of range. */
export function checkSimOptions(o: SimOptions): void {
  if (!Number.isInteger(o.vehicles) || o.vehicles < 1 || o.vehicles > MAX_UNIQUE_VINS) {
    throw new RangeError(`vehicles must be an integer in 1..${MAX_UNIQUE_VINS}, got ${o.vehicles}`);
  }
  if (!Number.isFinite(o.intervalMs) || o.intervalMs <= 0) throw new RangeError(`intervalMs must be > 0, got ${o.intervalMs}`);
  if (!Number.isSafeInteger(o.seed)) throw new RangeError(`seed must be an integer, got ${o.seed}`);
  const fleets = o.fleets ?? DEFAULT_FLEETS;
  if (!Number.isInteger(fleets) || fleets < 1) throw new RangeError(`fleets must be an integer ≥ 1, got ${fleets}`);
  const prefix = o.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  // [MQTT-4.7.1-1] wildcards are not allowed in a PUBLISH topic name.
  if (prefix === "" || /[+#\u0000]/.test(prefix)) throw new RangeError(`topicPrefix must be non-empty without + # or NUL, got ${JSON.stringify(prefix)}`);
}

export function createSimVehicle(o: SimOptions, index: number): SimVehicle {
  const rng: Rng = createRng(deriveSeed(o.seed, index));
  const vin = makeVin(o.seed, index);
  const fleet = fleetAt(index % (o.fleets ?? DEFAULT_FLEETS));
  const model = rng.pick(MODELS).name;
  let state = initialState({ vin, fleet: fleet.name, model, depot: fleet.depot }, rng);
  return {
    index,
    vin,
    topic: `${o.topicPrefix ?? DEFAULT_TOPIC_PREFIX}/${vin}/telemetry`,
    offsetMs: Math.floor((index * o.intervalMs) / o.vehicles),
    get state() {
      return state;
    },
    advance(dtMs: number): void {
      state = step(state, dtMs, rng);
    },
    payload: (ts: number) => toPayload(state, ts),
  };
}

/** Vehicles [first, first + count) of the fleet (all of them by default); a worker process drives one such slice. */
export function createSimVehicles(o: SimOptions, first = 0, count = o.vehicles - first): SimVehicle[] {
  checkSimOptions(o);
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 0 || first + count > o.vehicles) {
    throw new RangeError(`vehicle slice ${first}+${count} is outside 0..${o.vehicles}`);
  }
  return Array.from({ length: count }, (_, i) => createSimVehicle(o, first + i));
}

export interface GeneratedMessage {
  topic: string;
  vin: string;
  payload: TelemetryPayload;
}

/**
 * The first `count` messages (in total, across all vehicles) a fleet would
 * publish, in publish order. Vehicle i publishes at
 * `startMs + offset_i + k·intervalMs` for k = 0, 1, …; its k-th payload is its
 * state after k steps of intervalMs. Pure: no network, no clock.
 */
export function generateMessages(opts: {
  vehicles: number;
  intervalMs: number;
  count: number;
  seed: number;
  startMs: number;
  fleets?: number;
  topicPrefix?: string;
}): GeneratedMessage[] {
  if (!Number.isInteger(opts.count) || opts.count < 0) throw new RangeError(`count must be an integer ≥ 0, got ${opts.count}`);
  const sims = createSimVehicles(opts);
  const out: GeneratedMessage[] = [];
  // Offsets are increasing in i and all below intervalMs, so (k, i) order is time order.
  for (let k = 0; out.length < opts.count; k++) {
    for (const v of sims) {
      if (out.length === opts.count) break;
      if (k > 0) v.advance(opts.intervalMs);
      out.push({ topic: v.topic, vin: v.vin, payload: v.payload(opts.startMs + v.offsetMs + k * opts.intervalMs) });
    }
  }
  return out;
}
