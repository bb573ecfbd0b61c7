/**
 * One simulated vehicle: its state, a pure step function and the telemetry
 * payload. Time is always passed in (never read from a clock) so a test can
 * generate hours of driving without waiting, and a run is reproducible from
 * the seed of the Rng handed to `step`.
 *
 * The vehicle cycles parked (engine off) → warm-up (idling) → driving (segments
 * with a target speed: city, arterial, highway, traffic-light stops) →
 * arriving (braking to a stop) → cool-down (idling) → parked.
 *
 * `engineOn` is the ignition. What turns follows the powertrain: a combustion
 * engine idles at a standstill; a hybrid's engine only runs above town speeds
 * (`iceOn`); an electric motor turns only while the wheels do.
 */
import { MODELS, SPEED_CAP_KMH, type Depot, type ModelProfile } from "./catalog.js";
import { clearDtcAtService, updateDtc } from "./dtc.js";
import { IDLE_RPM, powertrain } from "./powertrain.js";
import type { Rng } from "./rng.js";

export type Phase = "parked" | "warmup" | "driving" | "arriving" | "cooldown";

/** Flat on purpose: `{ ...state }` is a full copy, so `step` never mutates its input. */
export interface VehicleState {
  readonly vin: string;
  readonly fleet: string;
  readonly model: string;
  readonly depot: Depot;
  phase: Phase;
  /** Time left in the current phase (trip, parking, warm-up, cool-down). */
  phaseLeftMs: number;
  /** Time left at the current target speed while driving. */
  segmentLeftMs: number;
  engineOn: boolean;
  /** The combustion engine is turning (ICE: = engineOn; hybrid: above town speeds; electric: never). */
  iceOn: boolean;
  speedKmh: number;
  targetKmh: number;
  gear: number;
  rpm: number;
  fuelLevelRatio: number;
  coolantTempC: number;
  readonly ambientTempC: number;
  batteryVoltageV: number;
  readonly restVoltageV: number;
  odometerKm: number;
  lat: number;
  lon: number;
  headingDeg: number;
  /** Stored diagnostic trouble codes (OBD-II DTCs) and the malfunction indicator lamp. */
  dtcCount: number;
  milOn: boolean;
}

/**
 * The JSON object published per message; field names are what the gateway's
 * default config maps. A type alias (not an interface) so it is assignable to
 * `Record<string, unknown>`.
 */
export type TelemetryPayload = {
  ts: number;
  fleet: string;
  model: string;
  speed_kmh: number;
  rpm: number;
  fuel_level_ratio: number;
  coolant_temp_c: number;
  battery_voltage_v: number;
  odometer_km: number;
  position: { lat: number; lon: number };
  /** Added after the first version (the gateway's defaults aggregate every numeric field, so these are extra series). */
  ignition: boolean;
  gear: number;
  dtc_count: number;
  mil_on: boolean;
};

export { IDLE_RPM } from "./powertrain.js";
/** Bounds the model keeps to; tests assert them. */
export const LIMITS = {
  runningVoltageV: [13.8, 14.4],
  restingVoltageV: [12.4, 12.7],
  maxCoolantC: 100,
  routeRadiusKm: 6,
} as const;

const MIN = 60_000;
const TRIP_MS = [5 * MIN, 40 * MIN] as const;
const PARK_MS = [5 * MIN, 45 * MIN] as const;
const WARMUP_MS = [10_000, 60_000] as const;
const COOLDOWN_MS = [5_000, 30_000] as const;
/** Longer steps are split so acceleration and warm-up curves do not depend on the publish interval. */
const MAX_SUBSTEP_MS = 1000;
/** 2 m/s² acceleration, 3.5 m/s² braking: ordinary (not emergency) driving. */
const ACCEL_KMH_PER_S = 7.2;
const BRAKE_KMH_PER_S = 12.6;
const REFUEL_BELOW = 0.3;
const RESERVE = 0.05;
const KM_PER_DEG_LAT = 111.32;

const PROFILES = new Map(MODELS.map((m) => [m.name, m]));

function profileOf(model: string): ModelProfile {
  const p = PROFILES.get(model);
  if (!p) throw new Error(`unknown vehicle model ${JSON.stringify(model)}`);
  return p;
}

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);
const rad = (deg: number): number => (deg * Math.PI) / 180;

export interface VehicleIdentity {
  vin: string;
  fleet: string;
  model: string;
  depot: Depot;
}

/**
 * A vehicle at the start of a run: half are parked; of the other half, 60 %
 * are already on a trip (30 % of the fleet driving at 20–70 km/h, warm engine)
 * and the rest are warming up to drive, so a fleet starts mixed and the first
 * roll-ups are not a screen of zeros.
 */
export function initialState(id: VehicleIdentity, rng: Rng): VehicleState {
  const ambientTempC = rng.range(5, 25);
  const restVoltageV = rng.range(12.45, 12.65);
  const r = rng.range(0, 2);
  const a = rng.range(0, 2 * Math.PI);
  const lat = id.depot.lat + (r * Math.cos(a)) / KM_PER_DEG_LAT;
  const lon = id.depot.lon + (r * Math.sin(a)) / (KM_PER_DEG_LAT * Math.cos(rad(id.depot.lat)));
  const base = {
    vin: id.vin,
    fleet: id.fleet,
    model: id.model,
    depot: id.depot,
    segmentLeftMs: 0,
    speedKmh: 0,
    targetKmh: 0,
    gear: 0,
    fuelLevelRatio: rng.range(0.35, 1),
    ambientTempC,
    restVoltageV,
    odometerKm: rng.range(2_000, 180_000),
    lat,
    lon,
    headingDeg: rng.range(0, 360),
    dtcCount: 0,
    milOn: false,
  };
  if (rng.chance(0.5)) {
    return { ...base, phase: "parked", phaseLeftMs: rng.range(0, PARK_MS[1]), engineOn: false, iceOn: false, rpm: 0, coolantTempC: ambientTempC + rng.range(0, 30), batteryVoltageV: restVoltageV };
  }
  const ice = profileOf(id.model).powertrain === "ice";
  if (rng.chance(0.6)) {
    const speedKmh = rng.range(20, 70);
    const hot = { engineOn: true, iceOn: profileOf(id.model).powertrain !== "electric", rpm: ice ? 2 * IDLE_RPM : 0, coolantTempC: rng.range(85, 95), batteryVoltageV: 14.1 };
    // Mid-way along a road segment at its speed: it keeps driving for a while before the next segment (or stop).
    return { ...base, ...hot, phase: "driving", phaseLeftMs: rng.range(TRIP_MS[0], TRIP_MS[1]), speedKmh, targetKmh: speedKmh, segmentLeftMs: rng.range(20_000, 120_000), gear: 3 };
  }
  return { ...base, phase: "warmup", phaseLeftMs: rng.range(0, WARMUP_MS[1]), engineOn: true, iceOn: ice, rpm: ice ? IDLE_RPM : 0, coolantTempC: rng.range(60, 90), batteryVoltageV: 14.1 };
}

/** Advances the vehicle by dtMs. Pure apart from consuming draws from rng; dtMs ≤ 0 returns the state unchanged. */
export function step(state: VehicleState, dtMs: number, rng: Rng): VehicleState {
  if (!(dtMs > 0)) return state;
  const s: VehicleState = { ...state };
  const profile = profileOf(s.model);
  for (let left = dtMs; left > 0; left -= MAX_SUBSTEP_MS) advance(s, Math.min(left, MAX_SUBSTEP_MS), profile, rng);
  return s;
}

function advance(s: VehicleState, dMs: number, p: ModelProfile, rng: Rng): void {
  const dt = dMs / 1000;
  transition(s, dMs, p, rng);
  const distKm = s.phase === "driving" || s.phase === "arriving" ? drive(s, dt, p, rng) : 0;
  powertrain(s, p, rng);
  updateDtc(s, dt, rng);
  if (s.engineOn) {
    // A hybrid running electrically still spends fuel, later, to recharge: a third of the engine's rate.
    const perKm = p.powertrain === "hybrid" && !s.iceOn ? p.fuelPerKm / 3 : p.fuelPerKm;
    s.fuelLevelRatio = Math.max(0, s.fuelLevelRatio - distKm * perKm - p.idleFuelPerS * dt);
    // Thermostat holds ~88 °C, a little more under load; time constant ~2.5 min. An electric drive's
    // coolant loop (battery and motor) runs near 40 °C; a hybrid's engine loop sags while the engine is off.
    const target = p.powertrain === "electric" ? 40 : s.iceOn ? 88 + 6 * Math.min(1, s.rpm / 4000) : Math.min(s.coolantTempC, 70);
    s.coolantTempC += (target - s.coolantTempC) * (1 - Math.exp(-dt / (s.iceOn || p.powertrain === "electric" ? 150 : 900))) + 0.05 * rng.normal();
    const v = s.batteryVoltageV + 0.1 * (14.1 - s.batteryVoltageV) * dt + 0.03 * Math.sqrt(dt) * rng.normal();
    s.batteryVoltageV = clamp(v, LIMITS.runningVoltageV[0], LIMITS.runningVoltageV[1]);
  } else {
    // Engine block cools towards ambient (τ 25 min); battery settles to its rest voltage (τ 5 min).
    s.coolantTempC += (s.ambientTempC - s.coolantTempC) * (1 - Math.exp(-dt / 1500));
    s.batteryVoltageV = s.restVoltageV + (s.batteryVoltageV - s.restVoltageV) * Math.exp(-dt / 300);
  }
  s.coolantTempC = clamp(s.coolantTempC, s.ambientTempC, LIMITS.maxCoolantC);
}

function transition(s: VehicleState, dMs: number, p: ModelProfile, rng: Rng): void {
  s.phaseLeftMs -= dMs;
  switch (s.phase) {
    case "parked":
      if (s.phaseLeftMs <= 0) {
        s.phase = "warmup";
        s.phaseLeftMs = rng.range(WARMUP_MS[0], WARMUP_MS[1]);
        s.engineOn = true;
        s.batteryVoltageV = 14.0;
      }
      return;
    case "warmup":
      if (s.phaseLeftMs <= 0) {
        s.phase = "driving";
        s.phaseLeftMs = rng.range(TRIP_MS[0], TRIP_MS[1]);
        newSegment(s, p, rng);
      }
      return;
    case "driving":
      s.segmentLeftMs -= dMs;
      if (s.segmentLeftMs <= 0) newSegment(s, p, rng);
      // Trip over, or running on reserve: head for the stop (and the pump).
      if (s.phaseLeftMs <= 0 || s.fuelLevelRatio < RESERVE) {
        s.phase = "arriving";
        s.targetKmh = 0;
      }
      return;
    case "arriving":
      if (s.speedKmh === 0) {
        s.phase = "cooldown";
        s.phaseLeftMs = rng.range(COOLDOWN_MS[0], COOLDOWN_MS[1]);
      }
      return;
    case "cooldown":
      if (s.phaseLeftMs <= 0) {
        s.phase = "parked";
        s.phaseLeftMs = rng.range(PARK_MS[0], PARK_MS[1]);
        s.engineOn = false;
        s.batteryVoltageV = LIMITS.restingVoltageV[1];
        if (s.fuelLevelRatio < REFUEL_BELOW) s.fuelLevelRatio = rng.range(0.9, 1);
        clearDtcAtService(s, rng);
      }
      return;
  }
}

/** A stretch of road: a traffic-light stop, city, arterial or highway speed, often after a turn. */
function newSegment(s: VehicleState, p: ModelProfile, rng: Rng): void {
  const kind = rng.next();
  const cap = Math.min(SPEED_CAP_KMH, p.maxSpeedKmh);
  if (kind < 0.15) {
    s.targetKmh = 0;
    s.segmentLeftMs = rng.range(5_000, 40_000);
  } else {
    const [lo, hi] = kind < 0.6 ? [30, 50] : kind < 0.85 ? [50, 80] : [80, cap];
    s.targetKmh = Math.min(cap, rng.range(lo, hi));
    s.segmentLeftMs = rng.range(20_000, 120_000);
  }
  s.headingDeg += rng.chance(0.35) ? (rng.chance(0.5) ? 90 : -90) : rng.range(-15, 15);
}

/** Speed, odometer and position for dt seconds; returns the distance driven (km). */
function drive(s: VehicleState, dt: number, p: ModelProfile, rng: Rng): number {
  const v0 = s.speedKmh;
  let v1 = v0 + clamp(s.targetKmh - v0, -BRAKE_KMH_PER_S * dt, ACCEL_KMH_PER_S * dt);
  if (s.targetKmh > 0 && v1 > 5) v1 += 0.4 * Math.sqrt(dt) * rng.normal();
  v1 = clamp(v1, 0, Math.min(SPEED_CAP_KMH, p.maxSpeedKmh));
  if (s.targetKmh === 0 && v1 < 0.5) v1 = 0;
  s.speedKmh = v1;
  // Trapezoid rule: the odometer is exactly ∫ speed dt over the sub-step.
  const distKm = ((v0 + v1) / 2) * (dt / 3600);
  if (distKm <= 0) return 0;
  s.odometerKm += distKm;
  s.headingDeg += 1.5 * Math.sqrt(dt) * rng.normal();
  const north = (s.lat - s.depot.lat) * KM_PER_DEG_LAT;
  const east = (s.lon - s.depot.lon) * KM_PER_DEG_LAT * Math.cos(rad(s.lat));
  if (Math.hypot(north, east) > LIMITS.routeRadiusKm) {
    // Outside the route area: turn back towards the depot at up to 20°/s.
    const home = (Math.atan2(-east, -north) * 180) / Math.PI;
    const diff = ((home - s.headingDeg + 540) % 360) - 180;
    s.headingDeg += clamp(diff, -20 * dt, 20 * dt);
  }
  s.headingDeg = ((s.headingDeg % 360) + 360) % 360;
  s.lat += (distKm * Math.cos(rad(s.headingDeg))) / KM_PER_DEG_LAT;
  s.lon += (distKm * Math.sin(rad(s.headingDeg))) / (KM_PER_DEG_LAT * Math.cos(rad(s.lat)));
  return distKm;
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** The published JSON object; ts is supplied by the caller (publish time). */
export function toPayload(s: VehicleState, ts: number): TelemetryPayload {
  return {
    ts,
    fleet: s.fleet,
    model: s.model,
    speed_kmh: round(s.speedKmh, 1),
    rpm: Math.round(s.rpm),
    fuel_level_ratio: round(s.fuelLevelRatio, 3),
    coolant_temp_c: round(s.coolantTempC, 1),
    battery_voltage_v: round(s.batteryVoltageV, 2),
    odometer_km: round(s.odometerKm, 3),
    position: { lat: round(s.lat, 6), lon: round(s.lon, 6) },
    ignition: s.engineOn,
    gear: s.gear,
    dtc_count: s.dtcCount,
    mil_on: s.milOn,
  };
}
