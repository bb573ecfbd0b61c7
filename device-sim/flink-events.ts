/**
 * The event stream of the Flink connected-vehicles demo
 * (aws-samples/flink-prometheus-iot-demo), reproduced from that
 * repository's generator (as summarised below), so edgegate can be run against the same workload
 * the Flink pre-processor was built for:
 *
 * - vehicle ids `V%010d`, each with a region fixed for the run;
 * - every event is for a vehicle picked uniformly at random; with
 *   probability 0.01 that vehicle first toggles between stopped and moving;
 * - a stopped vehicle emits a motor event (IC_RPM or ELECTRIC_RPM, 50/50)
 *   with measurement 0;
 * - a moving one, with probability 0.001, changes its warning count (0–5) and
 *   emits WARNINGS; otherwise 10 % WARNINGS with the current count, 90 % a
 *   motor event: IC_RPM uniform in [0, 3000), ELECTRIC_RPM uniform in
 *   [−10000, 10000).
 *
 * Vehicles start stopped with no warnings. Pure: the caller supplies time.
 *
 * One departure from the demo: a vehicle's events carry strictly increasing
 * millisecond timestamps (an event stamped in the same millisecond as that
 * vehicle's previous one gets the next millisecond). The demo stamps with the
 * wall clock, so at 10 events per vehicle per second about 0.2 % of events share
 * series and millisecond with an earlier one; a sensor does not report one
 * quantity twice in a millisecond, and a gateway that treats same series + same
 * timestamp as a resent duplicate (as Prometheus does) would count them once.
 */
import { createRng, deriveSeed, type Rng } from "./rng.js";

export type FlinkEventType = "IC_RPM" | "ELECTRIC_RPM" | "WARNINGS";

/** The published JSON object, field for field the demo's. */
export type FlinkEvent = {
  eventType: FlinkEventType;
  vehicleId: string;
  region: string;
  timestamp: number;
  measurement: number;
};

/** 20 regions, as the demo's "at most 2 × 7 × 20 series" implies; ISO-like country codes. */
export const FLINK_REGIONS: readonly string[] = [
  "UK", "DE", "FR", "IT", "ES", "NL", "BE", "PL", "SE", "NO",
  "DK", "FI", "IE", "PT", "AT", "CH", "CZ", "GR", "HU", "RO",
];

export const TOGGLE_MOTION_P = 0.01;
export const CHANGE_WARNINGS_P = 0.001;
export const WARNINGS_SHARE = 0.1;
export const MAX_WARNINGS = 5;

export function flinkVehicleId(index: number): string {
  return `V${String(index).padStart(10, "0")}`;
}

/** Region of vehicle `index` for a run: drawn from the vehicle's own stream, so it does not depend on the fleet size. */
export function flinkRegion(seed: number, index: number): string {
  return createRng(deriveSeed(seed, 0x3c6ef372 ^ index)).pick(FLINK_REGIONS);
}

export function flinkTopic(region: string, vehicleId: string): string {
  return `fleet/${region}/${vehicleId}/events`;
}

export interface FlinkGenerator {
  /** The next event, for a vehicle among indices [first, first + count); `index` says which. */
  next(timestamp: number): { index: number; event: FlinkEvent };
}

/**
 * One generator per process: a worker that drives vehicles [first, first+count)
 * draws only among its own (so N workers at rate r/N equal one at rate r).
 */
export function createFlinkGenerator(o: { seed: number; first: number; count: number }): FlinkGenerator {
  const rng: Rng = createRng(deriveSeed(o.seed, 0x5be0cd19 ^ o.first));
  const moving = new Uint8Array(o.count);
  const warnings = new Uint8Array(o.count);
  const ids = Array.from({ length: o.count }, (_, i) => flinkVehicleId(o.first + i));
  const regions = Array.from({ length: o.count }, (_, i) => flinkRegion(o.seed, o.first + i));
  const lastTs = new Float64Array(o.count).fill(-Infinity);
  return {
    next(wallTimestamp) {
      const i = rng.int(o.count);
      const timestamp = Math.max(wallTimestamp, lastTs[i]! + 1);
      lastTs[i] = timestamp;
      if (rng.chance(TOGGLE_MOTION_P)) moving[i] = moving[i] ? 0 : 1;
      let eventType: FlinkEventType;
      let measurement: number;
      if (!moving[i]) {
        eventType = rng.chance(0.5) ? "IC_RPM" : "ELECTRIC_RPM";
        measurement = 0;
      } else if (rng.chance(CHANGE_WARNINGS_P)) {
        warnings[i] = rng.int(MAX_WARNINGS + 1);
        eventType = "WARNINGS";
        measurement = warnings[i]!;
      } else if (rng.chance(WARNINGS_SHARE)) {
        eventType = "WARNINGS";
        measurement = warnings[i]!;
      } else if (rng.chance(0.5)) {
        eventType = "IC_RPM";
        measurement = rng.int(3000);
      } else {
        eventType = "ELECTRIC_RPM";
        measurement = rng.int(20_000) - 10_000;
      }
      return { index: o.first + i, event: { eventType, vehicleId: ids[i]!, region: regions[i]!, timestamp, measurement } };
    },
  };
}
