/**
 * Diagnostic trouble codes (OBD-II DTCs) and the malfunction indicator lamp
 * ("check engine"). A running vehicle stores a new code now and then; some
 * codes light the lamp; a workshop visit (sometimes, at parking) clears them.
 * Rates are chosen so a 2-hour, 20-vehicle run shows a few, not so a fleet
 * dashboard is a sea of red.
 */
import type { Rng } from "./rng.js";

export interface DtcState {
  engineOn: boolean;
  dtcCount: number;
  milOn: boolean;
}

/** Mean running time between two new codes of one vehicle (s): one every ~3 h of driving. */
const MEAN_RUN_S_PER_DTC = 3 * 3600;
/** Share of new codes that are emission/powertrain faults, which light the MIL (SAE J1979 "confirmed" codes). */
const MIL_SHARE = 0.4;
const MAX_STORED = 8;
/** Chance that a parking is a workshop visit that clears the stored codes (mode $04). */
const SERVICE_CHANCE = 0.1;

/** Advances the DTC state by dt seconds; always consumes exactly one draw (plus one when a code appears). */
export function updateDtc(s: DtcState, dt: number, rng: Rng): void {
  const fired = rng.next() < dt / MEAN_RUN_S_PER_DTC;
  if (!s.engineOn || !fired || s.dtcCount >= MAX_STORED) return;
  s.dtcCount++;
  if (rng.chance(MIL_SHARE)) s.milOn = true;
}

/** Called when the vehicle parks: a workshop visit now and then clears every stored code and the lamp. */
export function clearDtcAtService(s: DtcState, rng: Rng): void {
  if (s.dtcCount > 0 && rng.chance(SERVICE_CHANCE)) {
    s.dtcCount = 0;
    s.milOn = false;
  }
}
