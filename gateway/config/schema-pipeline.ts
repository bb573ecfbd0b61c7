import { z } from "zod";
import { duration, labelName } from "./schema-common.js";

export const AGGREGATION_OUTPUTS = ["avg", "min", "max", "sum_samples", "count_samples", "last", "count_series"] as const;

export const aggregationSchema = z.strictObject({
  match: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .describe("Prometheus series selector(s), e.g. `{__name__=~\"vehicle_.*\"}`; a sample matching any of them enters this rule."),
  interval: duration("Window length; windows are aligned to multiples of it since the Unix epoch (event time)."),
  by: z.array(labelName).optional().describe("Group by these labels (drop all others). Mutually exclusive with `without`."),
  without: z.array(labelName).optional().describe("Group by all labels except these. Mutually exclusive with `by`."),
  outputs: z.array(z.enum(AGGREGATION_OUTPUTS)).min(1).describe(`Aggregates to emit per group and window: ${AGGREGATION_OUTPUTS.join(", ")}.`),
  allowed_lateness: duration("How long after a window's end it stays open for late samples (wall clock); later samples are dropped as reason=\"too_late\".").default("5s"),
});
