import type { Sample } from "../prom/sample.js";
import type { Stage } from "./stage.js";

/**
 * The ordered stages built from config. `push` runs a batch through every
 * stage; `tick` asks each stateful stage for what became due (closed windows)
 * and runs that through the stages after it. Whatever leaves the last stage
 * goes to the sink (the outbox writer).
 */
export class Pipeline {
  constructor(
    readonly stages: readonly Stage[],
    private readonly sink: (samples: Sample[]) => void,
  ) {}

  push(batch: Sample[], nowMs: number): void {
    const out = this.runFrom(0, batch, nowMs);
    if (out.length > 0) this.sink(out);
  }

  /** `final` = shutdown: every open window is flushed. */
  tick(nowMs: number, final = false): void {
    for (let i = 0; i < this.stages.length; i++) {
      const stage = this.stages[i]!;
      if (!stage.flush) continue;
      const due = stage.flush(nowMs, final);
      if (due.length === 0) continue;
      const out = this.runFrom(i + 1, due, nowMs);
      if (out.length > 0) this.sink(out);
    }
  }

  private runFrom(index: number, batch: Sample[], nowMs: number): Sample[] {
    let cur = batch;
    for (let i = index; i < this.stages.length && cur.length > 0; i++) cur = this.stages[i]!.process(cur, nowMs);
    return cur;
  }
}
