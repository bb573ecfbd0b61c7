/**
 * Output series names, as vmagent's stream aggregation
 * (lib/streamaggr/streamaggr.go, newAggregator):
 *   `<metric>:<interval>[_by_<labels>][_without_<labels>]_<output>`
 * where `<interval>` is the config string as written and `<labels>` is the
 * sorted, de-duplicated label list joined by `_`, without `__name__` (the
 * metric name is always kept, so listing it changes nothing).
 */

/** Sorted, de-duplicated label names without `__name__` (vmagent: sortAndRemoveDuplicates + removeUnderscoreName). */
export function normalizeLabelList(labels: readonly string[] | undefined): string[] {
  if (!labels) return [];
  return [...new Set(labels)].filter((l) => l !== "__name__").sort();
}

/** The part after the metric name and before the output, e.g. `:10s_by_fleet_model`. */
export function groupingSuffix(interval: string, by?: readonly string[], without?: readonly string[]): string {
  let suffix = ":" + interval;
  const b = normalizeLabelList(by);
  const w = normalizeLabelList(without);
  if (b.length > 0) suffix += "_by_" + b.join("_");
  if (w.length > 0) suffix += "_without_" + w.join("_");
  return suffix;
}

/** Everything appended to the input metric name, e.g. `:10s_by_fleet_avg`. */
export function outputSuffix(interval: string, by: readonly string[] | undefined, without: readonly string[] | undefined, output: string): string {
  return groupingSuffix(interval, by, without) + "_" + output;
}

/** The full output name, e.g. `aggregatedName("vehicle_speed_kmh", "10s", ["fleet"], undefined, "avg")` → `vehicle_speed_kmh:10s_by_fleet_avg`. */
export function aggregatedName(
  metric: string,
  interval: string,
  by: readonly string[] | undefined,
  without: readonly string[] | undefined,
  output: string,
): string {
  return metric + outputSuffix(interval, by, without, output);
}
