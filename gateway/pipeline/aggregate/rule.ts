import type { AggregationRuleConfig } from "../../config/schema.js";
import { parseDuration } from "../../config/duration.js";
import { compileSelector, type Matcher } from "../selector.js";
import { Grouping } from "./grouping.js";
import { outputSuffix } from "./naming.js";
import type { AggregationOutput } from "./output.js";
import { createOutput } from "./outputs.js";
import type { Window } from "./window.js";

/** One aggregation rule, compiled once from config, with its open windows. */
export class Rule {
  /** Open windows by window start (ms). Freed on flush. */
  readonly windows = new Map<number, Window>();
  /** End of the latest window flushed so far: windows ending at or before it are closed for good. */
  flushedUntil = -Infinity;
  /** The window that received the previous sample (skips the Map lookup for the common case). */
  lastWindow: Window | null = null;

  constructor(
    readonly index: number,
    readonly matcher: Matcher,
    readonly intervalMs: number,
    readonly latenessMs: number,
    readonly grouping: Grouping,
    readonly outputs: readonly AggregationOutput[],
    /** Per output: the suffix appended to the input metric name, e.g. `:10s_by_fleet_avg`. */
    readonly suffixes: readonly string[],
  ) {}
}

/**
 * Compiles `aggregation[index]`. Throws an Error whose message starts with
 * the config key at fault (`aggregation[2].match[1]: ...`), so a user can find
 * it (DESIGN.md: errors name the config key).
 */
export function compileRule(cfg: AggregationRuleConfig, index: number): Rule {
  const key = `aggregation[${index}]`;
  const fail = (path: string, message: string, cause?: unknown): never => {
    throw new Error(`${key}.${path}: ${message}`, { cause });
  };

  const selectors = typeof cfg.match === "string" ? [cfg.match] : cfg.match;
  if (selectors.length === 0) fail("match", "at least one series selector is required");
  const matchers = selectors.map((text, j) => {
    try {
      return compileSelector(text);
    } catch (err) {
      return fail(typeof cfg.match === "string" ? "match" : `match[${j}]`, (err as Error).message, err);
    }
  });
  const matcher: Matcher =
    matchers.length === 1
      ? matchers[0]!
      : (labels) => {
          for (let i = 0; i < matchers.length; i++) if (matchers[i]!(labels)) return true;
          return false;
        };

  const intervalMs = duration(cfg.interval, "interval", fail);
  if (intervalMs <= 0) fail("interval", `must be greater than 0, got ${JSON.stringify(cfg.interval)}`);
  const latenessMs = duration(cfg.allowed_lateness ?? "5s", "allowed_lateness", fail);

  if (cfg.by && cfg.without) fail("without", "`by` and `without` are mutually exclusive");

  if (cfg.outputs.length === 0) fail("outputs", "at least one output is required");
  const outputs: AggregationOutput[] = [];
  const seen = new Set<string>();
  cfg.outputs.forEach((spec, j) => {
    if (seen.has(spec)) fail(`outputs[${j}]`, `duplicate output ${JSON.stringify(spec)}`);
    seen.add(spec);
    try {
      outputs.push(createOutput(spec));
    } catch (err) {
      fail(`outputs[${j}]`, (err as Error).message, err);
    }
  });
  const suffixes = outputs.map((o) => outputSuffix(cfg.interval, cfg.by, cfg.without, o.name));

  return new Rule(index, matcher, intervalMs, latenessMs, new Grouping(cfg.by, cfg.without), outputs, suffixes);
}

function duration(text: string, path: string, fail: (path: string, message: string, cause?: unknown) => never): number {
  try {
    return parseDuration(text);
  } catch (err) {
    return fail(path, (err as Error).message, err);
  }
}
