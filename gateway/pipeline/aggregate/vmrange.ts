/**
 * VictoriaMetrics histogram buckets (github.com/VictoriaMetrics/metrics,
 * histogram.go), which vmagent's `histogram_bucket` output uses: 18 log-spaced
 * buckets per decade from 1e-9 to 1e18, each named by a `vmrange` label
 * `<start>...<end>` (lower bound excluded, upper included, as Prometheus `le`),
 * plus `0...0` (zeros), `0...1.0e-9` (below) and `1.0e18...+Inf` (above).
 * Negative values and NaN are not counted (VictoriaMetrics does the same).
 *
 * Bucket ids: 0 = zeros, 1 = below 1e-9, 2 = above 1e18, 3 + decade * 18 + offset.
 */
const E10_MIN = -9;
const E10_MAX = 18;
const DECIMAL_MULTIPLIER = 2;
const BUCKET_SIZE = 9 * DECIMAL_MULTIPLIER;
const DECADES = E10_MAX - E10_MIN;
const PRECISION = 0.01 / DECIMAL_MULTIPLIER;
export const BUCKET_COUNT = 3 + DECADES * BUCKET_SIZE;
/** Exact powers of ten as Go's math.Pow10 returns them (`10 ** -9` is not exactly `1e-9` in every engine). */
const POW10 = new Map<number, number>();
for (let e = E10_MIN - 1; e <= E10_MAX + 1; e++) POW10.set(e, Number(`1e${e}`));
const pow10 = (e: number): number => POW10.get(e) ?? Number(`1e${e}`);

/** Go's fmt `%.1fe%d`. */
const bound = (m: number, e10: number): string => `${m.toFixed(1)}e${e10}`;

const RANGES: string[] = (() => {
  const r: string[] = ["0...0", `0...${bound(1, E10_MIN)}`, `${bound(1, E10_MAX)}...+Inf`];
  let start = bound(1, E10_MIN);
  for (let d = 0; d < DECADES; d++) {
    for (let offset = 0; offset < BUCKET_SIZE; offset++) {
      let e10 = E10_MIN + d;
      let m = 1 + (offset + 1) / DECIMAL_MULTIPLIER;
      if (Math.abs(m - 10) < PRECISION) {
        m = 1;
        e10++;
      }
      const end = bound(m, e10);
      r.push(`${start}...${end}`);
      start = end;
    }
  }
  return r;
})();

/** The `vmrange` label of a bucket id. */
export function vmrange(id: number): string {
  return RANGES[id]!;
}

/** The bucket id of a value, or -1 for negative values and NaN (not counted). */
export function bucketOf(v: number): number {
  if (!(v >= 0)) return -1;
  if (v === 0) return 0;
  if (v === Infinity) return 2;
  const e10 = Math.floor(Math.log10(v));
  let decade = e10 - E10_MIN;
  if (decade < 0) return 1;
  if (decade >= DECADES) {
    // on par with Prometheus `le`: exactly 1e18 belongs to the last finite bucket
    if (decade === DECADES && Math.abs(pow10(e10) - v) < PRECISION) return 3 + (DECADES - 1) * BUCKET_SIZE + BUCKET_SIZE - 1;
    return 2;
  }
  const m = (v / pow10(e10) - 1) * DECIMAL_MULTIPLIER;
  let offset = Math.trunc(m);
  if (offset < 0) offset = 0;
  else if (offset >= BUCKET_SIZE) offset = BUCKET_SIZE - 1;
  if (Math.abs(offset - m) < PRECISION) {
    // a value on a bucket's upper bound belongs to that bucket (`le` semantics)
    offset--;
    if (offset < 0) {
      decade--;
      offset = BUCKET_SIZE - 1;
      if (decade < 0) return 1;
    }
  }
  return 3 + decade * BUCKET_SIZE + offset;
}
