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

/**
 * The global limiter has defaults a Raspberry Pi survives (issue 10: 20,000
 * distinct `fleet` values made 160,000 output series, +500 MB, about 3 KB per
 * series; 50,000 input series stay within ~150 MB). Label values are capped
 * like Loki's and Mimir's `max_label_value_length` (2048).
 */
export const globalLimitsSchema = limitsSchema.extend({
  max_series: limitsSchema.shape.max_series
    .removeDefault()
    .default(50000)
    .describe("Most series (distinct label sets) active at once; a sample of a new series beyond it is dropped (reason=\"series_limit\"). 0 = no limit. The default is sized for a Raspberry Pi (≈3 KB per series)."),
  max_label_value_length: limitsSchema.shape.max_label_value_length
    .removeDefault()
    .default(2048)
    .describe("A sample with a label value longer than this (UTF-16 code units) is dropped (reason=\"label_value_too_long\"). 0 = no limit."),
  max_open_windows: z
    .number()
    .int()
    .nonnegative()
    .default(10000)
    .describe("Most aggregation windows open at once, all rules together; a sample that would open one more is dropped (reason=\"window_limit\"). Gauge: edgegate_aggregation_windows_open. 0 = no limit."),
  max_groups: z
    .number()
    .int()
    .nonnegative()
    .default(100000)
    .describe("Most groups (output label sets) in open aggregation windows, all rules together; a sample that would start one more is dropped (reason=\"group_limit\"). Gauge: edgegate_aggregation_groups_open. 0 = no limit."),
});
