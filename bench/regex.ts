/**
 * Regex engines on typical relabel/selector patterns: the translated V8 RegExp
 * edgegate runs on its hot path vs re2js (the JavaScript port of RE2), which
 * gateway/prom/regex.ts keeps for patterns it cannot translate exactly. Same
 * patterns, same inputs, same run; the ratio is what decided the hot path.
 */
import { RE2JS } from "re2js";
import { compileRegex } from "../gateway/prom/regex.js";

/** Patterns as they appear in relabel_configs and aggregation `match:` selectors, with values that hit and miss. */
export const REGEX_CASES: [string, string[]][] = [
  ["(.*)_kmh", ["vehicle_speed_kmh", "vehicle_rpm"]],
  ["fleet-(north|south|east)", ["fleet-north", "fleet-west"]],
  ["[a-z]+_[0-9]+", ["abc_123", "ABC_123"]],
  ["V0+([1-9][0-9]*)", ["V0000012345", "X0000012345"]],
  ["(?i)warn(ing)?s?", ["WARNINGS", "errors"]],
  ["(?P<dev>[^/]+)/telemetry/.*", ["V0000012345/telemetry/can", "V0000012345/status"]],
  ["__tmp_.+|__meta_.*", ["__tmp_x", "fleet"]],
];

function rate(n: number, fn: (s: string) => unknown, inputs: string[]): number {
  const t0 = process.hrtime.bigint();
  let hits = 0;
  for (let i = 0; i < n; i++) if (fn(inputs[i & 1]!) !== null) hits++;
  if (hits === 0) throw new Error("no input matched");
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** exec() calls per second for both engines per pattern; the ratios' median is the figure quoted in regex.ts. */
export function regexRates(n = 100_000): { pattern: string; v8: number; re2: number }[] {
  return REGEX_CASES.map(([pattern, inputs]) => {
    const ours = compileRegex(pattern);
    if (ours.engine !== "v8") throw new Error(`${pattern} is not on the V8 path`);
    const re2 = RE2JS.compile(`^(?s:${pattern})$`);
    return { pattern, v8: rate(n, (s) => ours.exec(s), inputs), re2: rate(n, (s) => re2.exec(s), inputs) };
  });
}
