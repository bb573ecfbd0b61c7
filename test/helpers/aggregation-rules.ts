import { z } from "zod";
import { formatKeyPath } from "../../gateway/config/load.js";
import type { AggregationRuleConfig } from "../../gateway/config/schema.js";
import { aggregationSchema, type AggregationRuleInput } from "../../gateway/config/schema-pipeline.js";

/**
 * Aggregation rules as written (defaults left out) → as the config schema
 * outputs them, which is what the aggregation stage takes. A rule the schema
 * refuses throws an Error with the first problem, named by its key path as
 * `edgegate --check-config` names it (`aggregation[0].interval: ...`).
 */
export function parseRules(rules: AggregationRuleInput[]): AggregationRuleConfig[] {
  const r = z.array(aggregationSchema).safeParse(rules);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new Error(`${formatKeyPath(["aggregation", ...issue.path])}: ${issue.message}`);
}
