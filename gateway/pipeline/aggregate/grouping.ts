import type { Labels } from "../../prom/sample.js";
import { normalizeLabelList } from "./naming.js";

/**
 * How one rule groups series: `by` keeps exactly the listed labels, `without`
 * all labels except the listed ones, neither all labels (vmagent's
 * behaviour). The input metric name is part of the group (aggregation is per
 * metric), except in rules with `output_name`, which merge every metric they match.
 *
 * Group keys are computed once per interned series and rule (see series.ts),
 * not per sample. They are built from JSON-quoted parts, so no label value can
 * make two different groups collide. An empty label value is the same as an
 * absent label (Prometheus data model; Remote-Write never sends empty values),
 * so both are left out of keys and output labels.
 */
/** A label's value, "" when absent (`typeof` keeps inherited members such as `constructor` out). */
function valueOf(labels: Labels, name: string): string {
  const v = labels[name];
  return typeof v === "string" ? v : "";
}

export class Grouping {
  /** `by`: the sorted label list; null for `without` and for neither. */
  private readonly by: string[] | null;
  private readonly excluded: Set<string>;

  /** `perMetric` false: the input metric name is not part of the group (rules with `output_name`). */
  constructor(
    by: readonly string[] | undefined,
    without: readonly string[] | undefined,
    private readonly perMetric = true,
  ) {
    const b = normalizeLabelList(by);
    this.by = b.length > 0 ? b : null;
    this.excluded = new Set(normalizeLabelList(without));
  }

  /** The group key of a series (unique per metric and group labels). */
  key(labels: Labels): string {
    let key = this.perMetric ? JSON.stringify(valueOf(labels, "__name__")) : "*";
    if (this.by !== null) {
      for (const n of this.by) key += "," + JSON.stringify(valueOf(labels, n));
      return key;
    }
    for (const n of Object.keys(labels).sort()) {
      const v = valueOf(labels, n);
      if (v && n !== "__name__" && !this.excluded.has(n)) key += "," + n + "=" + JSON.stringify(v);
    }
    return key;
  }

  /** The output labels of a series' group, without `__name__` (built once per group and window). */
  labels(labels: Labels): Labels {
    const out: Labels = {};
    for (const n of this.by ?? Object.keys(labels).sort()) {
      const v = valueOf(labels, n);
      if (v && n !== "__name__" && !this.excluded.has(n)) out[n] = v;
    }
    return out;
  }
}
