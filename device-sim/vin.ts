/**
 * Vehicle identification numbers (ISO 3779 layout, North-American check digit).
 * A VIN is the MQTT clientId and the `{vin}` topic level, so it must be stable
 * for a seed, unique within a run and made only of the VIN alphabet.
 */
import { createRng, deriveSeed } from "./rng.js";

/** ISO 3779 excludes I, O and Q (they read as 1 and 0). */
export const VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
/** Position 10 (model year) additionally excludes U, Z and 0. */
const YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789";
const VIN_CHARS = VIN_ALPHABET.split("");
const YEAR_CHARS = YEAR_CODES.split("");
const VIN_RE = /^[A-HJ-NPR-Z0-9]{17}$/;
const WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2] as const;
/** Serial numbers (positions 12–17) are 6 decimal digits: uniqueness holds up to this many vehicles. */
export const MAX_UNIQUE_VINS = 1_000_000;

function transliterate(ch: string): number {
  const code = ch.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  // A–H = 1–8, J–R = 1–9 (no O, Q), S–Z = 2–9: the standard table.
  if (ch <= "H") return code - 64;
  if (ch <= "R") return code - 73;
  return code - 81;
}

/** The check digit (position 9) for a 17-character VIN; position 9 itself is ignored. */
export function vinCheckDigit(vin: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += transliterate(vin[i] ?? "0") * (WEIGHTS[i] ?? 0);
  const r = sum % 11;
  return r === 10 ? "X" : String(r);
}

export function isValidVin(vin: string): boolean {
  return VIN_RE.test(vin) && vin[8] === vinCheckDigit(vin);
}

/**
 * VIN of vehicle `index` in run `seed`. Positions 1–11 are drawn from the
 * vehicle's own stream; the serial (12–17) is a seed-dependent offset plus the
 * index, which is what makes VINs unique within a run without bookkeeping.
 */
export function makeVin(seed: number, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_UNIQUE_VINS) {
    throw new RangeError(`vehicle index ${index} out of range 0..${MAX_UNIQUE_VINS - 1}`);
  }
  const rng = createRng(deriveSeed(seed, 0x7f4a7c15 ^ index));
  const offset = createRng(deriveSeed(seed, -1)).int(MAX_UNIQUE_VINS);
  let head = "";
  for (let i = 0; i < 8; i++) head += rng.pick(VIN_CHARS);
  const year = rng.pick(YEAR_CHARS);
  const plant = rng.pick(VIN_CHARS);
  const serial = String((offset + index) % MAX_UNIQUE_VINS).padStart(6, "0");
  const draft = `${head}0${year}${plant}${serial}`;
  return `${head}${vinCheckDigit(draft)}${year}${plant}${serial}`;
}
