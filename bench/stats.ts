/** Small helpers for benchmarks on noisy 2-core machines: medians of repeated runs, ratios to a baseline. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `reps` times (after one warm-up) and returns the median of what it returns (e.g. ops/s). */
export async function medianOf(reps: number, fn: () => number | Promise<number>): Promise<number> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) out.push(await fn());
  return median(out);
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export interface Row {
  bench: string;
  figure: string;
  baseline: string;
  ratio: string;
}

export function printTable(rows: Row[]): void {
  const cols: (keyof Row)[] = ["bench", "figure", "baseline", "ratio"];
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (r: Row) => cols.map((c, i) => r[c].padEnd(width[i]!)).join("  ");
  process.stdout.write(line({ bench: "bench", figure: "figure", baseline: "baseline (same run)", ratio: "ratio" }) + "\n");
  for (const r of rows) process.stdout.write(line(r) + "\n");
}
