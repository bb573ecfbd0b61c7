/**
 * What turns, and how fast: gear and rpm from speed for each powertrain.
 * A combustion engine idles at a standstill and picks the lowest gear that
 * keeps rpm under the shift point; a hybrid's engine starts and stops with
 * speed (with hysteresis); an electric motor turns only with the wheels.
 */
import type { ModelProfile } from "./catalog.js";
import type { Rng } from "./rng.js";
import type { VehicleState } from "./vehicle.js";

export const IDLE_RPM = 800;
const SHIFT_UP_RPM = 2600;

/** Hybrid engine start/stop thresholds (km/h), with hysteresis so it does not hunt. */
const HYBRID_ICE_ON_KMH = 50;
const HYBRID_ICE_OFF_KMH = 35;

/** Gear and rpm from speed: the lowest gear that keeps rpm under the shift point, idle at a standstill. */
export function powertrain(s: VehicleState, p: ModelProfile, rng: Rng): void {
  if (p.powertrain === "hybrid" && s.engineOn) {
    if (s.speedKmh > HYBRID_ICE_ON_KMH) s.iceOn = true;
    else if (s.speedKmh < HYBRID_ICE_OFF_KMH) s.iceOn = false;
  } else {
    s.iceOn = s.engineOn && p.powertrain === "ice";
  }
  if (!s.engineOn) {
    s.gear = 0;
    s.rpm = 0;
    return;
  }
  if (p.powertrain !== "ice" && !s.iceOn) {
    // Electric drive: the motor turns with the wheels (single reduction), nothing at a standstill.
    const ratio = p.powertrain === "electric" ? (p.gearRpmPerKmh[0] ?? 0) : 0;
    s.gear = s.speedKmh > 0 ? 1 : 0;
    s.rpm = s.speedKmh > 0 ? s.speedKmh * ratio : 0;
    return;
  }
  if (s.speedKmh < 3) {
    s.gear = s.speedKmh > 0 ? 1 : 0;
    s.rpm = IDLE_RPM + 15 * rng.normal();
    return;
  }
  const ratios = p.gearRpmPerKmh;
  let gear = ratios.length;
  for (let g = 1; g <= ratios.length; g++) {
    if (s.speedKmh * (ratios[g - 1] ?? 0) <= SHIFT_UP_RPM) {
      gear = g;
      break;
    }
  }
  s.gear = gear;
  s.rpm = Math.max(IDLE_RPM, s.speedKmh * (ratios[gear - 1] ?? 0)) + 20 * rng.normal();
}
