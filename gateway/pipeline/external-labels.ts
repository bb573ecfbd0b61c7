import type { Labels, Sample } from "../prom/sample.js";
import type { Stage } from "./stage.js";

/**
 * Adds `external_labels` to every sample leaving the pipeline. As in Prometheus's
 * remote write, a label the series already has wins over an external label.
 */
export class ExternalLabelsStage implements Stage {
  readonly name = "external_labels";
  private readonly entries: [string, string][];

  constructor(labels: Labels) {
    this.entries = Object.entries(labels);
  }

  process(batch: Sample[]): Sample[] {
    if (this.entries.length === 0) return batch;
    for (const s of batch) {
      let labels: Labels | null = null;
      for (const [k, v] of this.entries) {
        if (s.labels[k] !== undefined) continue;
        labels ??= Object.assign({}, s.labels); // not a spread: see json-decoder.ts
        labels[k] = v;
      }
      if (labels) s.labels = labels;
    }
    return batch;
  }
}
