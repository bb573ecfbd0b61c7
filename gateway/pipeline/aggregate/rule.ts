import type { AggregationRuleConfig } from "../../config/schema.js";
import { parseDuration } from "../../prom/duration.js";
import { compileSelector, type Matcher } from "../../prom/selector.js";
import { Grouping } from "./grouping.js";
import { outputSuffix } from "./naming.js";
import type { AggregationOutput } from "./output.js";
import { createOutput } from "./outputs.js";
import type { Window } from "./window.js";
import { StaleTracker } from "./staleness.js";
import { compileRelabelConfigs, withRelabelDefaults, type CompiledRelabel } from "../../prom/relabel.js";

/** Rule options beyond windows and grouping (see schema-pipeline.ts for their meaning). */
export interface RuleOptions {
  /** 0 = no de-duplication. */
  dedupMs: number;
  stalenessMs: number;
  flushOnShutdown: boolean;
  /**
   * Per output: how the output series is named. `fixed` (output_name) is used
   * as is; else `<metric>` + suffix, where the suffix is "" for
   * keep_metric_names and e.g. `:10s_by_fleet_avg` otherwise.
   */
  fixedName: string | null;
  suffixes: readonly string[];
  /** output_relabel_configs, compiled; null when there are none. */
  relabel: readonly CompiledRelabel[] | null;
  /** Identity of the rule's config: a checkpoint of another config is not restored into it. */
  fingerprint: string;
}

/** One aggregation rule, compiled once from config, with its open windows. */
export class Rule {
  /** Open windows by window start (ms). Freed on flush. */
  readonly windows = new Map<number, Window>();
  /** End of the latest window flushed so far: windows ending at or before it are closed for good. */
  flushedUntil = -Infinity;
  /** The window that received the previous sample (skips the Map lookup for the common case). */
  lastWindow: Window | null = null;
  /**
   * Buffer each window's samples per input series and replay them sorted at
   * flush: needed by de-duplication and by outputs that need timestamp order.
   */
  readonly buffered: boolean;
  /** Output series emitted so far and when: source of stale markers. */
  readonly stale = new StaleTracker();

  constructor(
    readonly index: number,
    readonly matcher: Matcher,
    readonly intervalMs: number,
    readonly latenessMs: number,
    readonly grouping: Grouping,
    readonly outputs: readonly AggregationOutput[],
    readonly options: RuleOptions,
  ) {
    this.buffered = options.dedupMs > 0 || outputs.some((o) => o.ordered === true);
  }

  /** Output suffixes (kept for callers of the core API). */
  get suffixes(): readonly string[] {
    return this.options.suffixes;
  }
}

/**
 * Compiles `aggregation[index]`, a rule the config schema has validated and
 * completed with its defaults (the schema checks durations, by/without,
 * outputs and the options that depend on each other; nothing is checked
 * twice). What only compiling finds (a bad selector) throws an Error whose
 * message starts with the config key at fault (`aggregation[2].match[1]: ...`).
 */
export function compileRule(cfg: AggregationRuleConfig, index: number): Rule {
  const key = `aggregation[${index}]`;
  const fail = (path: string, message: string, cause?: unknown): never => {
    throw new Error(`${key}.${path}: ${message}`, { cause });
  };

  const selectors = typeof cfg.match === "string" ? [cfg.match] : cfg.match;
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

  const intervalMs = parseDuration(cfg.interval);
  const latenessMs = parseDuration(cfg.allowed_lateness);
  const outputs: AggregationOutput[] = cfg.outputs.map(createOutput);
  const dedupMs = cfg.dedup_interval === undefined ? 0 : parseDuration(cfg.dedup_interval);
  const stalenessMs = cfg.staleness_interval === undefined ? 2 * intervalMs : parseDuration(cfg.staleness_interval);
  const keepNames = cfg.keep_metric_names;
  const fixedName = cfg.output_name ?? null;
  const suffixes = outputs.map((o) => (keepNames ? "" : outputSuffix(cfg.interval, cfg.by, cfg.without, o.name)));
  const fingerprint = JSON.stringify([selectors, cfg.interval, cfg.by ?? null, cfg.without ?? null, cfg.outputs, dedupMs, fixedName, keepNames]);
  let relabel: CompiledRelabel[] | null = null;
  if (cfg.output_relabel_configs && cfg.output_relabel_configs.length > 0) {
    try {
      // The stage also accepts rules as written (tests, tools): defaults applied here, as the schema does.
      relabel = compileRelabelConfigs(cfg.output_relabel_configs.map(withRelabelDefaults));
    } catch (err) {
      fail("output_relabel_configs", (err as Error).message, err);
    }
  }

  // With output_name every matched metric lands in the one named series: group without the input name.
  const grouping = new Grouping(cfg.by, cfg.without, fixedName === null);
  return new Rule(index, matcher, intervalMs, latenessMs, grouping, outputs, {
    dedupMs,
    stalenessMs,
    flushOnShutdown: cfg.flush_on_shutdown,
    fixedName,
    suffixes,
    relabel,
    fingerprint,
  });
}
