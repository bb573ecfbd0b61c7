import type { TopicRuleConfig } from "../config/schema.js";
import type { Sample } from "../prom/sample.js";
import { LimitsStage } from "./limits.js";
import { RelabelStage } from "./relabel-stage.js";
import type { DropFn } from "../metrics/drop-reasons.js";


/** One topic rule's stages: its `relabel_configs`, then its `limits` (null when unused). */
interface RuleStages {
  relabel: RelabelStage | null;
  limits: LimitsStage | null;
}

/**
 * The per-topic stages, run right after decoding and before the global
 * pipeline, chosen by the topic rule that decoded the message
 * (`topics[i].relabel_configs`, then `topics[i].limits`). Compiled once per
 * config; a rule without them costs one array lookup per message.
 */
export class TopicStages {
  private readonly rules: RuleStages[];

  constructor(topics: readonly TopicRuleConfig[], onDrop: DropFn) {
    this.rules = topics.map((rule) => {
      const relabel = rule.relabel_configs.length > 0 ? new RelabelStage(rule.relabel_configs, onDrop) : null;
      const limits = new LimitsStage(rule.limits, onDrop);
      return { relabel, limits: limits.disabled ? null : limits };
    });
  }

  /** Runs rule `index`'s stages over the samples it decoded. */
  process(index: number, batch: Sample[], nowMs: number): Sample[] {
    const r = this.rules[index];
    if (r === undefined || batch.length === 0) return batch;
    let out = batch;
    if (r.relabel) out = r.relabel.process(out);
    if (r.limits) out = r.limits.process(out, nowMs);
    return out;
  }

  /** Series counted by each rule's limiter (scope `topics[i]`), after expiring idle ones. */
  limitStats(nowMs: number): { scope: string; active: number }[] {
    const out: { scope: string; active: number }[] = [];
    this.rules.forEach((r, i) => {
      if (!r.limits) return;
      r.limits.flush(nowMs);
      out.push({ scope: `topics[${i}]`, active: r.limits.activeSeries() });
    });
    return out;
  }
}
