import type { AggregationOutput } from "./output.js";
import { avg } from "./avg.js";
import { min } from "./min.js";
import { max } from "./max.js";
import { sumSamples } from "./sum-samples.js";
import { countSamples } from "./count-samples.js";
import { last } from "./last.js";
import { countSeries } from "./count-series.js";
import { stddev, stdvar } from "./std.js";
import { uniqueSamples } from "./unique-samples.js";
import { parsePhis, quantiles } from "./quantiles.js";
import { histogramBucket } from "./histogram-bucket.js";
import { totalOutput } from "./total.js";
import { rateOutput } from "./rate.js";
import { countDistinct, countDistinctNonZero, labelArgument } from "./count-distinct.js";
import { sumFirstBy } from "./sum-first-by.js";

/**
 * The table of aggregation outputs, by config name. A factory is called once
 * per rule; `args` is the text inside `name(...)` for parameterised outputs
 * such as vmagent's `quantiles(0.5, 0.9)`, undefined otherwise. A factory
 * throws an Error (plain message) for arguments it cannot use.
 */
export type OutputFactory = (args: string | undefined) => AggregationOutput;

const noArgs =
  (make: () => AggregationOutput): OutputFactory =>
  (args) => {
    const output = make();
    if (args !== undefined) throw new Error(`output "${output.name}" takes no arguments`);
    return output;
  };

/** Outputs without cross-window state are one shared object; the others get a fresh object per rule. */
const shared = (output: AggregationOutput): OutputFactory => noArgs(() => output);

export const OUTPUTS: ReadonlyMap<string, OutputFactory> = new Map<string, OutputFactory>([
  ["avg", shared(avg)],
  ["min", shared(min)],
  ["max", shared(max)],
  ["sum_samples", shared(sumSamples)],
  ["count_samples", shared(countSamples)],
  ["last", shared(last)],
  ["count_series", shared(countSeries)],
  ["stddev", shared(stddev)],
  ["stdvar", shared(stdvar)],
  ["unique_samples", shared(uniqueSamples)],
  ["total", noArgs(() => totalOutput("total"))],
  ["total_prometheus", noArgs(() => totalOutput("total_prometheus"))],
  ["increase", noArgs(() => totalOutput("increase"))],
  ["increase_prometheus", noArgs(() => totalOutput("increase_prometheus"))],
  ["rate_sum", noArgs(() => rateOutput("rate_sum"))],
  ["rate_avg", noArgs(() => rateOutput("rate_avg"))],
  ["histogram_bucket", noArgs(histogramBucket)],
  ["quantiles", (args) => quantiles(parsePhis(args))],
  ["count_distinct", (args) => countDistinct(labelArgument("count_distinct", args))],
  ["count_distinct_nonzero", (args) => countDistinctNonZero(labelArgument("count_distinct_nonzero", args))],
  ["sum_first_by", (args) => sumFirstBy(labelArgument("sum_first_by", args))],
]);

const SPEC = /^([a-z_]+)(?:\((.*)\))?$/s;

/** Builds the output named by a config entry (`avg`, `quantiles(0.5, 0.9)`); throws an Error naming the valid outputs. */
export function createOutput(spec: string): AggregationOutput {
  const m = SPEC.exec(spec.trim());
  const factory = m ? OUTPUTS.get(m[1]!) : undefined;
  if (!m || !factory) {
    throw new Error(`unknown output ${JSON.stringify(spec)}; valid outputs: ${[...OUTPUTS.keys()].join(", ")}`);
  }
  return factory(m[2]);
}

/** Checks an output spec without keeping the output (the config schema validates with it). Returns an error message or null. */
export function outputSpecError(spec: string): string | null {
  try {
    createOutput(spec);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
