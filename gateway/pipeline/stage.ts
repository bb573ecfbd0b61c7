import type { Sample } from "../prom/sample.js";

/**
 * One step of the pipeline (decode → enrich → relabel → derive → aggregate →
 * output relabel → outbox). A stateless stage only implements `process`; a
 * stateful one (aggregation) also emits on `flush`, which the pipeline calls
 * on a timer with the wall clock, and once with `final = true` at shutdown.
 */
export interface Stage {
  readonly name: string;
  /** Transforms one batch; returns the samples for the next stage (may be the same array). */
  process(batch: Sample[], nowMs: number): Sample[];
  /** Emits what became due at `nowMs` (closed windows); `final` flushes everything still open. */
  flush?(nowMs: number, final: boolean): Sample[];
}
