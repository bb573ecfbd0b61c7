import { z } from "zod";
import { duration } from "./schema-common.js";

/** Cardinality limits (gateway/pipeline/limits.ts), per topic rule and global. */
export const limitsSchema = z
  .strictObject({
    max_series: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe("Most series (distinct label sets) active at once; a sample of a new series beyond it is dropped (reason=\"series_limit\"). 0 = no limit."),
    series_ttl: duration("A series not seen for this long (wall clock) stops counting towards max_series, so a limit is never permanent.").prefault("10m"),
    max_label_value_length: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe("A sample with a label value longer than this (UTF-16 code units) is dropped (reason=\"label_value_too_long\"). 0 = no limit."),
  })
  .describe("Cardinality limiter.");

export type LimitsConfig = z.output<typeof limitsSchema>;
