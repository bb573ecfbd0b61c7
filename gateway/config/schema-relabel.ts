import { z } from "zod";
import { labelName } from "./schema-common.js";
import { compileRegex } from "../prom/regex.js";
import { RELABEL_ACTIONS, RELABEL_DEFAULTS } from "../prom/relabel.js";
import { LABEL_NAME_RE } from "../prom/sample.js";

export { RELABEL_ACTIONS, RELABEL_DEFAULTS };
/** Prometheus's relabelTargetLegacy: a label name that may hold `$1` / `${name}` references. */
const TARGET_TEMPLATE_RE = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;

/**
 * One `relabel_configs` entry, with Prometheus's keys, defaults and
 * validation (Config.Validate, legacy label names): the messages quote
 * Prometheus's own, and zod prefixes the key path
 * (`relabel_configs[2].regex: ...`).
 */
export const relabelConfigSchema = z
  .strictObject({
    source_labels: z.array(labelName).optional().describe("Labels whose values are joined with `separator` (an absent label is \"\")."),
    separator: z.string().default(RELABEL_DEFAULTS.separator).describe("Joins the source label values."),
    regex: z
      .string()
      .default(RELABEL_DEFAULTS.regex)
      .superRefine((re, ctx) => {
        try {
          compileRegex(re);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
        }
      })
      .describe("RE2 regular expression, fully anchored (`^(?s:regex)$`), matched against the joined source values (label names for labelmap/labeldrop/labelkeep)."),
    modulus: z.number().int().positive().optional().describe("hashmod: the modulus of the md5 hash of the joined source values."),
    target_label: z.string().optional().describe("Label written by replace/hashmod/lowercase/uppercase, compared by keepequal/dropequal; replace may use `$1`/`${name}`."),
    replacement: z.string().default(RELABEL_DEFAULTS.replacement).describe("replace: the value template; labelmap: the label name template (`$1`, `${name}`, `$$`)."),
    action: z
      .preprocess((v) => (typeof v === "string" ? v.toLowerCase() : v), z.enum(RELABEL_ACTIONS))
      .default("replace")
      .describe(`One of ${RELABEL_ACTIONS.join(", ")} (case-insensitive).`),
  })
  .superRefine((c, ctx) => {
    const fail = (key: string, message: string) => ctx.addIssue({ code: "custom", path: [key], message });
    const a = c.action;
    if (a === "hashmod" && c.modulus === undefined) fail("modulus", "relabel configuration for hashmod requires non-zero modulus");
    const needsTarget = a === "replace" || a === "hashmod" || a === "lowercase" || a === "uppercase" || a === "keepequal" || a === "dropequal";
    const t = c.target_label;
    if (needsTarget && (t === undefined || t === "")) {
      fail("target_label", `relabel configuration for ${a} action requires 'target_label' value`);
      return;
    }
    if (a === "replace" && t !== undefined && !(t.includes("$") ? TARGET_TEMPLATE_RE : LABEL_NAME_RE).test(t)) {
      fail("target_label", `${JSON.stringify(t)} is invalid 'target_label' for ${a} action`);
    }
    if ((a === "lowercase" || a === "uppercase" || a === "keepequal" || a === "dropequal" || a === "hashmod") && !LABEL_NAME_RE.test(t ?? "")) {
      fail("target_label", `${JSON.stringify(t)} is invalid 'target_label' for ${a} action`);
    }
    if ((a === "lowercase" || a === "uppercase" || a === "keepequal" || a === "dropequal") && c.replacement !== RELABEL_DEFAULTS.replacement) {
      fail("replacement", `'replacement' can not be set for ${a} action`);
    }
    if (a === "labelmap" && !TARGET_TEMPLATE_RE.test(c.replacement)) {
      fail("replacement", `${JSON.stringify(c.replacement)} is invalid 'replacement' for ${a} action`);
    }
    if ((a === "keepequal" || a === "dropequal") &&
      (c.regex !== RELABEL_DEFAULTS.regex || c.modulus !== undefined || c.separator !== RELABEL_DEFAULTS.separator)) {
      fail("action", `${a} action requires only 'source_labels' and \`target_label\`, and no other fields`);
    }
    if ((a === "labeldrop" || a === "labelkeep") &&
      (c.source_labels !== undefined || t !== undefined || c.modulus !== undefined || c.separator !== RELABEL_DEFAULTS.separator || c.replacement !== RELABEL_DEFAULTS.replacement)) {
      fail("action", `${a} action requires only 'regex', and no other fields`);
    }
  })
  .describe("A Prometheus relabelling rule.");

export const relabelConfigsSchema = (desc: string) => z.array(relabelConfigSchema).default([]).describe(desc);

/** Absent = no rules (for blocks whose config objects are also built by hand, e.g. in tests). */
export const relabelConfigsOptional = (desc: string) => z.array(relabelConfigSchema).optional().describe(desc);

export type RelabelConfig = z.output<typeof relabelConfigSchema>;
