/**
 * The fixed lists a simulated vehicle is drawn from: fleets (each with a depot
 * its vehicles drive around) and models (each with its own top speed and
 * consumption). Kept small on purpose: `fleet` and `model` become Prometheus
 * labels, and the gateway's cardinality tests rely on them being bounded.
 */

export interface Depot {
  lat: number;
  lon: number;
}

export interface FleetInfo {
  name: string;
  depot: Depot;
}

/** How the vehicle is driven: combustion engine, hybrid (engine off at low speed), or battery electric. */
export type Powertrain = "ice" | "hybrid" | "electric";

export interface ModelProfile {
  name: string;
  powertrain: Powertrain;
  /** Top speed this model is driven at, km/h (always ≤ SPEED_CAP_KMH). */
  maxSpeedKmh: number;
  /** Fraction of a full tank used per km driven. */
  fuelPerKm: number;
  /** Fraction of a full tank used per second of idling. */
  idleFuelPerS: number;
  /** Engine (or, electric: motor) rpm per km/h in each gear, 1st first. */
  gearRpmPerKmh: readonly number[];
}

/** No simulated vehicle is ever faster than this (km/h). */
export const SPEED_CAP_KMH = 130;

const BASE_FLEETS: readonly FleetInfo[] = [
  { name: "north", depot: { lat: 53.5511, lon: 9.9937 } },
  { name: "south", depot: { lat: 48.1372, lon: 11.5756 } },
  { name: "east", depot: { lat: 52.52, lon: 13.405 } },
  { name: "west", depot: { lat: 50.9375, lon: 6.9603 } },
  { name: "central", depot: { lat: 50.1109, lon: 8.6821 } },
  { name: "coast", depot: { lat: 54.3233, lon: 10.1228 } },
  { name: "alpine", depot: { lat: 47.5596, lon: 10.7498 } },
  { name: "harbor", depot: { lat: 53.0793, lon: 8.8017 } },
];

/**
 * Fleet number `index`: the eight named fleets first, then `fleet9`, `fleet10`…
 * with depots shifted north-east so their routes do not overlap.
 */
export function fleetAt(index: number): FleetInfo {
  const base = BASE_FLEETS[index % BASE_FLEETS.length] as FleetInfo;
  if (index < BASE_FLEETS.length) return base;
  const shift = 0.2 * Math.floor(index / BASE_FLEETS.length);
  return { name: `fleet${index + 1}`, depot: { lat: base.depot.lat + shift, lon: base.depot.lon + shift } };
}

// Rpm per km/h ≈ 60 · (gear ratio · final drive) / (wheel circumference in km/h terms):
// plausible manual/automatic box figures, so 50 km/h sits at 1500–2000 rpm.
export const MODELS: readonly ModelProfile[] = [
  // Electric van: "fuel" is the state of charge and "rpm" the motor speed (single reduction).
  { name: "ev-van", powertrain: "electric", maxSpeedKmh: 110, fuelPerKm: 0.003, idleFuelPerS: 0.0000005, gearRpmPerKmh: [70] },
  { name: "diesel-van", powertrain: "ice", maxSpeedKmh: 125, fuelPerKm: 0.0013, idleFuelPerS: 0.000003, gearRpmPerKmh: [110, 62, 42, 32, 26, 21] },
  { name: "box-truck", powertrain: "ice", maxSpeedKmh: 90, fuelPerKm: 0.0011, idleFuelPerS: 0.000004, gearRpmPerKmh: [130, 80, 55, 40, 31, 25] },
  { name: "sedan", powertrain: "ice", maxSpeedKmh: 130, fuelPerKm: 0.0012, idleFuelPerS: 0.000002, gearRpmPerKmh: [120, 68, 46, 35, 28, 23] },
  // Full hybrid (e-CVT modelled as 6 fixed ratios): the engine only runs above town speeds.
  { name: "hybrid-suv", powertrain: "hybrid", maxSpeedKmh: 125, fuelPerKm: 0.0009, idleFuelPerS: 0.000001, gearRpmPerKmh: [115, 66, 45, 34, 27, 22] },
];
