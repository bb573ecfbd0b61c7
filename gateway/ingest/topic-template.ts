import { LABEL_NAME_RE } from "../prom/sample.js";

/**
 * Topic templates: `vehicles/{vin}/telemetry` binds a topic level to a label;
 * `+` matches exactly one level and `#` (last level only) any remaining levels,
 * as in MQTT 3.1.1 topic filters [MQTT-4.7.1]. Compiled once per config; matching
 * walks the topic string once without splitting it (hot path: every PUBLISH).
 */

type Level =
  | { kind: "literal"; text: string }
  | { kind: "bind"; label: string }
  | { kind: "single" }
  | { kind: "multi" };

export interface TopicTemplate {
  readonly source: string;
  /** Label names bound by `{name}` levels, in order. */
  readonly labels: readonly string[];
  /** Returns the bound label values (in `labels` order), or null when the topic does not match. */
  match(topic: string): string[] | null;
}


export function compileTopicTemplate(source: string): TopicTemplate {
  if (source.length === 0) throw new Error("topic template is empty");
  const parts = source.split("/");
  const levels: Level[] = [];
  const labels: string[] = [];
  parts.forEach((part, i) => {
    if (part === "#") {
      if (i !== parts.length - 1) throw new Error(`"#" must be the last level in ${JSON.stringify(source)}`);
      levels.push({ kind: "multi" });
    } else if (part === "+") {
      levels.push({ kind: "single" });
    } else if (part.startsWith("{") && part.endsWith("}")) {
      const label = part.slice(1, -1);
      if (!LABEL_NAME_RE.test(label)) throw new Error(`{${label}} in ${JSON.stringify(source)} is not a valid label name`);
      if (label.startsWith("__")) throw new Error(`{${label}} in ${JSON.stringify(source)}: label names starting with "__" are reserved`);
      if (labels.includes(label)) throw new Error(`{${label}} is bound twice in ${JSON.stringify(source)}`);
      labels.push(label);
      levels.push({ kind: "bind", label });
    } else {
      if (/[+#{}]/.test(part)) throw new Error(`level ${JSON.stringify(part)} of ${JSON.stringify(source)} mixes text with a wildcard or placeholder`);
      levels.push({ kind: "literal", text: part });
    }
  });

  return {
    source,
    labels,
    match(topic: string): string[] | null {
      // [MQTT-4.7.2-1]: wildcards do not match topics that start with "$".
      if (topic.charCodeAt(0) === 36 /* $ */ && levels[0]?.kind !== "literal") return null;
      const values: string[] = [];
      let pos = 0;
      for (let i = 0; i < levels.length; i++) {
        const level = levels[i]!;
        if (level.kind === "multi") return values; // matches the parent level too, [MQTT-4.7.1-2]
        if (pos > topic.length) return null; // ran out of levels
        let end = topic.indexOf("/", pos);
        if (end === -1) end = topic.length;
        if (level.kind === "literal") {
          if (end - pos !== level.text.length || !topic.startsWith(level.text, pos)) return null;
        } else if (level.kind === "bind") {
          if (end === pos) return null; // an empty level cannot be a label value
          values.push(topic.slice(pos, end));
        }
        pos = end + 1;
      }
      return pos === topic.length + 1 ? values : null;
    },
  };
}
