import type { TopicRuleConfig } from "../config/schema.js";
import type { Labels, Sample } from "../pipeline/sample.js";
import { compileTopicTemplate, type TopicTemplate } from "./topic-template.js";
import { JsonDecoder, type DropFn } from "./json-decoder.js";

interface CompiledRule {
  template: TopicTemplate;
  staticLabels: Labels;
  decoder: JsonDecoder;
}

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
      return {
        template,
        staticLabels: rule.labels,
        decoder: new JsonDecoder({ metricPrefix: rule.metric_prefix, timestampField: rule.timestamp_field, labelFields: rule.label_fields }),
      };
    });
  }

  /**
   * Appends the samples of one message to `out`. Returns false when no rule
   * matches the topic (the caller counts it); payload problems go to `onDrop`.
   */
  route(topic: string, payload: string, arrivalMs: number, out: Sample[], onDrop: DropFn): boolean {
    for (const rule of this.rules) {
      const values = rule.template.match(topic);
      if (values === null) continue;
      const base: Labels = { ...rule.staticLabels };
      const names = rule.template.labels;
      for (let i = 0; i < names.length; i++) base[names[i]!] = values[i]!;
      rule.decoder.decode(payload, base, arrivalMs, out, onDrop);
      return true;
    }
    return false;
  }
}
