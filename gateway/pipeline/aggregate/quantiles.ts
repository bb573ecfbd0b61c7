import { asArray, asNumber, type AggregationOutput, type Json, type OutputEmitter } from "./output.js";

/**
 * `quantiles(phi, ...)`: the phi-quantiles of the samples in the window, one
 * series per phi with label `quantile="<phi>"` (vmagent's quantiles.go).
 *
 * As vmagent (github.com/valyala/histogram `Fast`): up to 1000 values are kept
 * exactly; beyond that a reservoir sample of 1000 (deterministic PRNG, so a
 * replay gives the same result). Quantile = the sorted sample at index
 * round(phi * (n - 1)); phi 0 → min, phi 1 → max (exact, tracked separately).
 */
const MAX_SAMPLES = 1000;

class QuantileState {
  values: number[] = [];
  count = 0;
  min = Infinity;
  max = -Infinity;
  /** xorshift32 state, seeded per window for repeatable results. */
  rng = 1;
}

/** Formats phi as Go's strconv.FormatFloat(phi, 'g', -1, 64), the label value vmagent writes (`0.5`, `0.99`, `1e-05`). */
export function formatPhi(phi: number): string {
  if (phi !== 0 && Math.abs(phi) < 1e-4) {
    const [mant, exp] = phi.toExponential().split("e");
    const e = Number(exp);
    return `${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return String(phi);
}

/** Parses `0.5, 0.9, 0.99`; throws a plain message on anything else. */
export function parsePhis(args: string | undefined): number[] {
  if (args === undefined || args.trim() === "") throw new Error(`output "quantiles" needs at least one phi, e.g. quantiles(0.5, 0.9, 0.99)`);
  const phis = args.split(",").map((p) => {
    const t = p.trim();
    const v = Number(t);
    if (t === "" || !Number.isFinite(v) || v < 0 || v > 1) throw new Error(`quantiles: phi must be a number in [0, 1], got ${JSON.stringify(t)}`);
    return v;
  });
  if (new Set(phis).size !== phis.length) throw new Error(`quantiles: duplicate phi in ${JSON.stringify(args)}`);
  return phis;
}

function quantile(sorted: number[], s: QuantileState, phi: number): number {
  if (sorted.length === 0) return NaN;
  if (phi <= 0) return s.min;
  if (phi >= 1) return s.max;
  const idx = Math.min(Math.floor(phi * (sorted.length - 1) + 0.5), sorted.length - 1);
  return sorted[idx]!;
}

export function quantiles(phis: readonly number[]): AggregationOutput<QuantileState> {
  const labels = phis.map(formatPhi);
  return {
    name: "quantiles",
    init: () => new QuantileState(),
    update(s: QuantileState, value: number): void {
      if (value < s.min) s.min = value;
      if (value > s.max) s.max = value;
      s.count++;
      if (s.values.length < MAX_SAMPLES) {
        s.values.push(value);
        return;
      }
      // Reservoir sampling (Algorithm R): keep each of the n values with probability 1000/n.
      let x = s.rng;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      s.rng = x >>> 0;
      const n = s.rng % s.count;
      if (n < MAX_SAMPLES) s.values[n] = value;
    },
    flush(s: QuantileState, out: OutputEmitter): void {
      const sorted = Float64Array.from(s.values).sort();
      const arr = Array.from(sorted);
      for (let i = 0; i < phis.length; i++) out.emit(quantile(arr, s, phis[i]!), "quantile", labels[i]!);
    },
    save: (s: QuantileState): Json => [s.count, s.min, s.max, s.rng, s.values],
    load(data: Json): QuantileState {
      const [count, min, max, rng, values] = asArray(data);
      const s = new QuantileState();
      s.count = asNumber(count);
      s.min = asNumber(min);
      s.max = asNumber(max);
      s.rng = asNumber(rng);
      s.values = asArray(values).map(asNumber);
      return s;
    },
  };
}
