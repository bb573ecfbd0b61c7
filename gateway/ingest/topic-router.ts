import type { TopicRuleConfig } from "../config/schema.js";
import type { Labels, Sample } from "../prom/sample.js";
import { compileTopicTemplate, type TopicTemplate } from "./topic-template.js";
import { JsonDecoder, type DropFn } from "./json-decoder.js";
import { ProtobufDecoder } from "./protobuf-decoder.js";

/** The payload as text; a Buffer (what the broker hands over) is read as is, without a new view on its bytes per message. */
function utf8(payload: Uint8Array): string {
  return Buffer.isBuffer(payload) ? payload.toString("utf8") : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
}

/**
 * `base`: the rule's static labels plus the labels its template binds, one
 * object per rule refilled for every message (the template binds every name
 * on each match). Decoders only copy from it, so it is never held past a message.
 */
type CompiledRule = { template: TopicTemplate; base: Labels } & (
  | { format: "json"; decoder: JsonDecoder }
  | { format: "protobuf"; decoder: ProtobufDecoder }
);

/**
 * Finds the topic rule of a message (the first whose template matches) and
 * decodes its payload into samples. Rules are compiled once (pino's lesson:
 * do the work at configuration time, not per message). A rule's
 * `relabel_configs` and `limits` are pipeline stages (pipeline/topic-stages.ts),
 * chosen by the rule index `decode` returns: ingest only decodes.
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
      const base: Labels = { ...rule.labels };
      return rule.format === "protobuf"
        ? { template, base, format: "protobuf", decoder: new ProtobufDecoder(opts) }
        : { template, base, format: "json", decoder: new JsonDecoder(opts) };
    });
  }

  /**
   * Appends the samples of one message to `out`. Returns false when no rule
   * matches the topic (the caller counts it); payload problems go to `onDrop`.
   * Pass the payload's bytes: a protobuf payload does not survive a UTF-8
   * string (a string is accepted for JSON callers and encoded back as UTF-8).
   */
  route(topic: string, payload: Uint8Array | string, arrivalMs: number, out: Sample[], onDrop: DropFn): boolean {
    return this.decode(topic, payload, arrivalMs, out, onDrop) >= 0;
  }

  /** `route`, returning the index of the topic rule that decoded the message (-1: none matched). */
  decode(topic: string, payload: Uint8Array | string, arrivalMs: number, out: Sample[], onDrop: DropFn): number {
    for (let r = 0; r < this.rules.length; r++) {
      const rule = this.rules[r]!;
      const values = rule.template.match(topic);
      if (values === null) continue;
      const base = rule.base;
      const names = rule.template.labels;
      for (let i = 0; i < names.length; i++) base[names[i]!] = values[i]!;
      if (rule.format === "protobuf") {
        rule.decoder.decode(typeof payload === "string" ? Buffer.from(payload, "utf8") : payload, base, arrivalMs, out, onDrop);
      } else {
        rule.decoder.decode(typeof payload === "string" ? payload : utf8(payload), base, arrivalMs, out, onDrop);
      }
      return r;
    }
    return -1;
  }
}
