import type { AggregationOutput } from "./output.js";
import { avg } from "./avg.js";
import { min } from "./min.js";
import { max } from "./max.js";
import { sumSamples } from "./sum-samples.js";
import { countSamples } from "./count-samples.js";
import { last } from "./last.js";
import { countSeries } from "./count-series.js";

/**
 * The table of aggregation outputs, by config name. A factory is called once
 * per rule; `args` is the text inside `name(...)` for parameterised outputs
 * such as vmagent's `quantiles(0.5, 0.9)`, undefined otherwise. A factory
 * throws an Error (plain message) for arguments it cannot use.
 */
export type OutputFactory = (args: string | undefined) => AggregationOutput;

const noArgs =
  (output: AggregationOutput): OutputFactory =>
  (args) => {
    if (args !== undefined) throw new Error(`output "${output.name}" takes no arguments`);
    return output; // stateless across windows: one shared object is enough
  };

export const OUTPUTS: ReadonlyMap<string, OutputFactory> = new Map<string, OutputFactory>([
  ["avg", noArgs(avg)],
  ["min", noArgs(min)],
  ["max", noArgs(max)],
  ["sum_samples", noArgs(sumSamples)],
  ["count_samples", noArgs(countSamples)],
  ["last", noArgs(last)],
  ["count_series", noArgs(countSeries)],
]);

const SPEC = /^([a-z_]+)(?:\((.*)\))?$/s;

/** Builds the output named by a config entry (`avg`, later `quantiles(0.5, 0.9)`); throws an Error naming the valid outputs. */
export function createOutput(spec: string): AggregationOutput {
  const m = SPEC.exec(spec.trim());
  const factory = m ? OUTPUTS.get(m[1]!) : undefined;
  if (!m || !factory) {
    throw new Error(`unknown output ${JSON.stringify(spec)}; valid outputs: ${[...OUTPUTS.keys()].join(", ")}`);
  }
  return factory(m[2]);
}
