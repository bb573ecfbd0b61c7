import { z } from "zod";
import { parseDuration } from "../prom/duration.js";
import { durationText, labelName } from "./schema-common.js";
import { createOutput, OUTPUTS, outputSpecError } from "../pipeline/aggregate/outputs.js";
import { relabelConfigsOptional } from "./schema-relabel.js";

/** Output names (parameterised ones take arguments: `quantiles(0.5, 0.99)`, `count_distinct(vin)`). */
export const AGGREGATION_OUTPUTS: readonly string[] = [...OUTPUTS.keys()];

const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "must be a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");

/** Parses a duration already checked by the `duration` refinement (0 if it is not valid, so that refinement reports it). */
function ms(text: string | undefined): number {
  if (text === undefined) return 0;
  try {
    return parseDuration(text);
  } catch {
    return 0;
  }
}

function validDuration(text: string): boolean {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}

export const aggregationSchema = z
  .strictObject({
    match: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe("Prometheus series selector(s), e.g. `{__name__=~\"vehicle_.*\"}`; a sample matching any of them enters this rule."),
    interval: durationText("Window length; windows are aligned to multiples of it since the Unix epoch (event time)."),
    by: z.array(labelName).optional().describe("Group by these labels (drop all others). Mutually exclusive with `without`."),
    without: z.array(labelName).optional().describe("Group by all labels except these. Mutually exclusive with `by`."),
    outputs: z
      .array(
        z.string().superRefine((spec, ctx) => {
          const err = outputSpecError(spec);
          if (err !== null) ctx.addIssue({ code: "custom", message: err, input: spec });
        }),
      )
      .min(1, "at least one output is required")
      .describe(
        `Aggregates to emit per group and window (see docs/aggregation.md): ${AGGREGATION_OUTPUTS.map((o) =>
          o === "quantiles" ? "quantiles(phi, ...)" : o.startsWith("count_distinct") || o === "sum_first_by" ? `${o}(label)` : o,
        ).join(", ")}.`,
      ),
    allowed_lateness: durationText(
      "How long after a window's end it stays open for late samples (wall clock); a sample whose window was already flushed is dropped as reason=\"too_late\" (a flushed window is never reopened).",
    ).default("5s"),
    dedup_interval: durationText(
      "De-duplicate each input series before aggregation: per aligned dedup interval only the sample with the latest timestamp is kept (equal timestamps: the larger value), as vmagent's dedup. `interval` must be a multiple of it.",
    ).optional(),
    staleness_interval: durationText(
      "An output series without a new sample for this long (event time) gets a Prometheus stale marker, and the cross-window state of total/increase/rate_*/histogram_bucket for it and for input series not seen for this long is dropped. Default: 2 × interval.",
    ).optional(),
    flush_on_shutdown: z
      .boolean()
      .default(true)
      .describe("At shutdown, emit the open (incomplete) windows; false drops them, counted as reason=\"shutdown_unflushed\" (vmagent's default is false)."),
    keep_metric_names: z.boolean().default(false).describe("Name each output series like its input metric (vmagent); needs exactly one output."),
    output_name: metricName
      .optional()
      .describe("Exact name of the output series instead of `<metric>:<interval>_by_<labels>_<output>`, e.g. `vehicles_in_motion`; needs exactly one output; all metrics the rule matches are then aggregated together."),
    output_relabel_configs: relabelConfigsOptional(
      "Prometheus relabelling of this rule's output series (as vmagent's per-rule output_relabel_configs), after naming and before external_labels; a dropped output series is counted as reason=\"output_relabel_drop\".",
    ),
  })
  .superRefine((rule, ctx) => {
    const interval = ms(rule.interval);
    // An invalid duration is reported by its own refinement (and ms() makes it 0): only a valid zero is reported here.
    if (interval === 0 && validDuration(rule.interval)) {
      ctx.addIssue({ code: "custom", path: ["interval"], message: "must be greater than 0", input: rule.interval });
    }
    if (rule.by && rule.without) ctx.addIssue({ code: "custom", path: ["without"], message: "`by` and `without` are mutually exclusive" });
    // Two outputs with one name (`count_distinct(a)`, `count_distinct(b)`) would write the same series.
    const seen = new Set<string>();
    rule.outputs.forEach((spec, j) => {
      if (outputSpecError(spec) !== null) return;
      const name = createOutput(spec).name;
      if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["outputs", j], message: `duplicate output ${JSON.stringify(name)}`, input: spec });
      seen.add(name);
    });
    if (rule.dedup_interval !== undefined) {
      const d = ms(rule.dedup_interval);
      if (d <= 0 || (interval > 0 && interval % d !== 0)) {
        ctx.addIssue({ code: "custom", path: ["dedup_interval"], message: "must be greater than 0 and divide `interval`", input: rule.dedup_interval });
      }
    }
    if (rule.staleness_interval !== undefined && ms(rule.staleness_interval) < interval) {
      ctx.addIssue({ code: "custom", path: ["staleness_interval"], message: "must be at least `interval`", input: rule.staleness_interval });
    }
    if ((rule.keep_metric_names || rule.output_name !== undefined) && rule.outputs.length !== 1) {
      const key = rule.output_name !== undefined ? "output_name" : "keep_metric_names";
      ctx.addIssue({ code: "custom", path: [key], message: "needs exactly one output (the name would be ambiguous)" });
    }
    if (rule.keep_metric_names && rule.output_name !== undefined) {
      ctx.addIssue({ code: "custom", path: ["output_name"], message: "`output_name` and `keep_metric_names` are mutually exclusive" });
    }
  });

/** A rule as written (defaults not yet applied): what the aggregation stage accepts, so tests and tools can omit defaulted keys. */
export type AggregationRuleInput = z.input<typeof aggregationSchema>;
