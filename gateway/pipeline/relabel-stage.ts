import type { RelabelConfig } from "../config/schema-relabel.js";
import type { Sample } from "../prom/sample.js";
import type { Stage } from "./stage.js";
import { compileRelabelConfigs, relabelLabels, type CompiledRelabel } from "../prom/relabel.js";
import type { DropFn, DropReason } from "../metrics/drop-reasons.js";

export type { DropFn } from "../metrics/drop-reasons.js";

/**
 * Runs `relabel_configs` over every sample (Prometheus semantics, see
 * relabel.ts). A series dropped by keep/drop/keepequal/dropequal is counted as
 * `dropReason` (a deliberate filter, still counted); one left without a valid
 * `__name__` as `relabel_invalid_metric_name`. Counted once per batch per reason.
 */
export class RelabelStage implements Stage {
  readonly name = "relabel";
  private readonly rules: CompiledRelabel[];

  constructor(
    configs: readonly RelabelConfig[],
    private readonly onDrop: DropFn,
    private readonly dropReason: DropReason = "relabel_drop",
  ) {
    this.rules = compileRelabelConfigs(configs);
  }

  /** No rules: the stage can be left out of the pipeline. */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  process(batch: Sample[]): Sample[] {
    if (this.rules.length === 0) return batch;
    const out: Sample[] = [];
    let dropped = 0;
    let invalid = 0;
    for (let i = 0; i < batch.length; i++) {
      const s = batch[i]!;
      const labels = relabelLabels(s.labels, this.rules);
      if (labels === "dropped") dropped++;
      else if (labels === "invalid_name") invalid++;
      else {
        s.labels = labels;
        out.push(s);
      }
    }
    if (dropped > 0) this.onDrop(this.dropReason, dropped);
    if (invalid > 0) this.onDrop("relabel_invalid_metric_name", invalid);
    return out;
  }

  /** Like `process`, but leaves the input samples untouched (write relabelling shares them between targets). */
  processCopy(batch: readonly Sample[]): Sample[] {
    if (this.rules.length === 0) return batch.slice();
    return this.process(batch.map((s) => ({ labels: s.labels, value: s.value, timestamp: s.timestamp })));
  }
}
