import type { TopicRuleConfig } from "../config/schema.js";
import type { Labels, Sample } from "../prom/sample.js";
import { compileTopicTemplate, type TopicTemplate } from "./topic-template.js";
import { JsonDecoder, type DropFn } from "./json-decoder.js";
import { ProtobufDecoder } from "./protobuf-decoder.js";
import { RelabelStage } from "../pipeline/relabel-stage.js";
import { LimitsStage } from "../pipeline/limits.js";

/** Per-rule stages right after decoding: `relabel_configs`, then `limits` (null when unused). */
interface RulePost {
  relabel: RelabelStage | null;
  limits: LimitsStage | null;
}

type CompiledRule = { template: TopicTemplate; staticLabels: Labels; post: RulePost } & (
  | { format: "json"; decoder: JsonDecoder }
  | { format: "protobuf"; decoder: ProtobufDecoder }
);

/**
 * Finds the topic rule of a message (the first whose template matches) and
 * decodes its payload into samples. Rules are compiled once (pino's lesson:
 * do the work at configuration time, not per message).
 */
export class TopicRouter {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly TopicRuleConfig[]) {
    this.rules = rules.map((rule, i) => {
      let template: TopicTemplate;
      try {
        template = compileTopicTemplate(rule.topic);
      } catch (err) {
        throw new Error(`topics[${i}].topic: ${(err as Error).message}`);
      }
      const opts = { metricPrefix: rule.metric_prefix, timestampField: rule.timestamp_field, labelFields: rule.label_fields };
      const post = this.compilePost(rule);
      return rule.format === "protobuf"
        ? { template, staticLabels: rule.labels, post, format: "protobuf", decoder: new ProtobufDecoder(opts) }
        : { template, staticLabels: rule.labels, post, format: "json", decoder: new JsonDecoder(opts) };
    });
  }

  /** The drop callback of the route() call in progress (the per-rule stages report through it). */
  private currentDrop: DropFn = () => undefined;

  private compilePost(rule: TopicRuleConfig): RulePost {
    const onDrop: DropFn = (reason, n) => this.currentDrop(reason, n);
    const relabel = rule.relabel_configs.length > 0 ? new RelabelStage(rule.relabel_configs, onDrop) : null;
    const limits = new LimitsStage(rule.limits, onDrop);
    return { relabel, limits: limits.disabled ? null : limits };
  }

  /** Series counted by each rule's limiter (scope `topics[i]`), after expiring idle ones. */
  limitStats(nowMs: number): { scope: string; active: number }[] {
    const out: { scope: string; active: number }[] = [];
    this.rules.forEach((r, i) => {
      if (!r.post.limits) return;
      r.post.limits.flush(nowMs);
      out.push({ scope: `topics[${i}]`, active: r.post.limits.activeSeries() });
    });
    return out;
  }

  /** Runs a rule's relabel_configs and limits over the samples it just appended to `out` (from `start`). */
  private applyPost(post: RulePost, out: Sample[], start: number, arrivalMs: number, onDrop: DropFn): void {
    if ((!post.relabel && !post.limits) || out.length === start) return;
    this.currentDrop = onDrop;
    let mine = out.slice(start);
    if (post.relabel) mine = post.relabel.process(mine);
    if (post.limits) mine = post.limits.process(mine, arrivalMs);
    out.length = start;
    for (const s of mine) out.push(s);
  }

  /**
   * Appends the samples of one message to `out`. Returns false when no rule
   * matches the topic (the caller counts it); payload problems go to `onDrop`.
   * Pass the payload's bytes: a protobuf payload does not survive a UTF-8
   * string (a string is accepted for JSON callers and encoded back as UTF-8).
   */
  route(topic: string, payload: Uint8Array | string, arrivalMs: number, out: Sample[], onDrop: DropFn): boolean {
    for (const rule of this.rules) {
      const values = rule.template.match(topic);
      if (values === null) continue;
      const base: Labels = { ...rule.staticLabels };
      const names = rule.template.labels;
      for (let i = 0; i < names.length; i++) base[names[i]!] = values[i]!;
      const start = out.length;
      if (rule.format === "protobuf") {
        rule.decoder.decode(typeof payload === "string" ? Buffer.from(payload, "utf8") : payload, base, arrivalMs, out, onDrop);
      } else {
        rule.decoder.decode(typeof payload === "string" ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8"), base, arrivalMs, out, onDrop);
      }
      this.applyPost(rule.post, out, start, arrivalMs, onDrop);
      return true;
    }
    return false;
  }
}
