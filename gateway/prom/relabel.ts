import { createHash } from "node:crypto";
import { LABEL_NAME_RE, METRIC_NAME_RE, type Labels } from "./sample.js";
import { compileRegex, type PromRegex } from "./regex.js";
import { expandTemplate, parseTemplate, type Template } from "./relabel-template.js";

/**
 * Prometheus relabelling (model/relabel/relabel.go `relabel`), compiled once
 * per config: regexes and `$1` templates are parsed here, never per sample.
 * Semantics, rule by rule, are Prometheus's; test/unit/relabel.test.ts ports
 * its relabel_test.go table. Label names are the legacy (Remote-Write 1.0)
 * character set.
 */
/** Prometheus relabel actions (model/relabel/relabel.go), lower case as Prometheus normalises them. */
export const RELABEL_ACTIONS = [
  "replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
] as const;

export const RELABEL_DEFAULTS = { separator: ";", regex: "(.*)", replacement: "$1" } as const;

/** One relabel rule with Prometheus's keys, defaults applied (the config schema's output has this shape). */
export interface RelabelRule {
  readonly action: (typeof RELABEL_ACTIONS)[number];
  readonly source_labels?: readonly string[] | undefined;
  readonly separator: string;
  readonly regex: string;
  readonly modulus?: number | undefined;
  readonly target_label?: string | undefined;
  readonly replacement: string;
}

/**
 * A rule as a user may write it (keys with defaults may be left out; `action`
 * in any case), with Prometheus's defaults applied. The config schema does the
 * same and also validates; this is for rules built in code.
 */
export function withRelabelDefaults(rule: Partial<Omit<RelabelRule, "action">> & { action?: unknown }): RelabelRule {
  const action = typeof rule.action === "string" ? rule.action.toLowerCase() : rule.action === undefined ? "replace" : "";
  if (!(RELABEL_ACTIONS as readonly string[]).includes(action)) throw new Error(`unknown relabel action ${JSON.stringify(rule.action)}`);
  return {
    source_labels: rule.source_labels,
    separator: rule.separator ?? RELABEL_DEFAULTS.separator,
    regex: rule.regex ?? RELABEL_DEFAULTS.regex,
    modulus: rule.modulus,
    target_label: rule.target_label,
    replacement: rule.replacement ?? RELABEL_DEFAULTS.replacement,
    action: action as RelabelRule["action"],
  };
}

export interface CompiledRelabel {
  readonly action: RelabelRule["action"];
  readonly sourceLabels: readonly string[];
  readonly separator: string;
  readonly regex: PromRegex;
  /** Regex left at its default `(.*)`: enables Prometheus's add/delete fast path. */
  readonly defaultRegex: boolean;
  readonly targetLabel: string;
  readonly target: Template;
  readonly replacement: Template;
  readonly modulus: bigint;
}

export function compileRelabel(c: RelabelRule): CompiledRelabel {
  return {
    action: c.action,
    sourceLabels: c.source_labels ?? [],
    separator: c.separator,
    regex: compileRegex(c.regex),
    defaultRegex: c.regex === RELABEL_DEFAULTS.regex,
    targetLabel: c.target_label ?? "",
    target: parseTemplate(c.target_label ?? ""),
    replacement: parseTemplate(c.replacement),
    modulus: BigInt(c.modulus ?? 1),
  };
}

export function compileRelabelConfigs(configs: readonly RelabelRule[]): CompiledRelabel[] {
  return configs.map(compileRelabel);
}

/** Why `relabelLabels` returned no labels. */
export type RelabelFailure = "dropped" | "invalid_name";

function get(l: Labels, name: string): string {
  const v = l[name];
  return typeof v === "string" ? v : "";
}

/** labels.Builder.Set: an empty value deletes the label. */
function set(l: Labels, name: string, value: string): void {
  if (value === "") delete l[name];
  else l[name] = value;
}

function hashmod(val: string, modulus: bigint): string {
  const digest = createHash("md5").update(val, "utf8").digest();
  // Only the last 8 bytes, big-endian, "to give the same result as earlier versions" (relabel.go).
  return (digest.readBigUInt64BE(8) % modulus).toString();
}

/** Applies one rule to the mutable `l`; false = drop the series. */
function apply(r: CompiledRelabel, l: Labels): boolean {
  let val = "";
  const src = r.sourceLabels;
  for (let i = 0; i < src.length; i++) val += (i === 0 ? "" : r.separator) + get(l, src[i]!);
  switch (r.action) {
    case "drop":
      return !r.regex.test(val);
    case "keep":
      return r.regex.test(val);
    case "dropequal":
      return get(l, r.targetLabel) !== val;
    case "keepequal":
      return get(l, r.targetLabel) === val;
    case "replace": {
      if (val === "" && r.defaultRegex && r.target.literal !== null && r.replacement.literal !== null) {
        set(l, r.target.literal, r.replacement.literal);
        return true;
      }
      const m = r.regex.exec(val);
      if (m === null) return true; // no match: no replacement
      const target = expandTemplate(r.target, m);
      if (!LABEL_NAME_RE.test(target)) return true;
      set(l, target, expandTemplate(r.replacement, m));
      return true;
    }
    case "lowercase":
      set(l, r.targetLabel, val.toLowerCase());
      return true;
    case "uppercase":
      set(l, r.targetLabel, val.toUpperCase());
      return true;
    case "hashmod":
      set(l, r.targetLabel, hashmod(val, r.modulus));
      return true;
    case "labelmap":
      // Iterates a snapshot (labels.Builder.Range), in name order like a Prometheus label set.
      for (const [name, value] of Object.entries(l).sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        const m = r.regex.exec(name);
        if (m === null) continue;
        const to = expandTemplate(r.replacement, m);
        // Prometheus would set an invalid name and fail later; we skip it (Remote-Write 1.0 names only).
        if (LABEL_NAME_RE.test(to)) set(l, to, value);
      }
      return true;
    case "labeldrop":
      for (const name of Object.keys(l)) if (r.regex.test(name)) delete l[name];
      return true;
    case "labelkeep":
      for (const name of Object.keys(l)) if (!r.regex.test(name)) delete l[name];
      return true;
  }
}

/** Prometheus's ProcessBuilder: the rules in order over a copy of `labels`; "dropped" when one drops it. */
export function applyRules(labels: Labels, rules: readonly CompiledRelabel[]): Labels | "dropped" {
  // Null prototype: a label called `__proto__` or `constructor` is just a label.
  const l: Labels = Object.assign(Object.create(null) as Labels, labels);
  for (let i = 0; i < rules.length; i++) if (!apply(rules[i]!, l)) return "dropped";
  return l;
}

/**
 * Runs `rules` over a copy of `labels` (the input is never modified). Returns
 * the new labels, or the reason there are none: "dropped" (keep/drop/…equal)
 * or "invalid_name" (`__name__` deleted, or not a valid metric name).
 */
export function relabelLabels(labels: Labels, rules: readonly CompiledRelabel[]): Labels | RelabelFailure {
  const l = applyRules(labels, rules);
  if (l === "dropped") return l;
  const name = l["__name__"];
  if (name === undefined || !METRIC_NAME_RE.test(name)) return "invalid_name";
  return l;
}
