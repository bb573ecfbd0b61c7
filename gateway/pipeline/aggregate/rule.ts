import type { AggregationRuleInput } from "../../config/schema-pipeline.js";
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
 * Compiles `aggregation[index]`. Throws an Error whose message starts with
 * the config key at fault (`aggregation[2].match[1]: ...`), so a user can find
 * it without reading the code.
 */
export function compileRule(cfg: AggregationRuleInput, index: number): Rule {
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
    let output: AggregationOutput | undefined;
    try {
      output = createOutput(spec);
    } catch (err) {
      fail(`outputs[${j}]`, (err as Error).message, err);
    }
    // Two outputs with one name (`count_distinct(a)`, `count_distinct(b)`) would write the same series.
    if (seen.has(output!.name)) fail(`outputs[${j}]`, `duplicate output ${JSON.stringify(output!.name)}`);
    seen.add(output!.name);
    outputs.push(output!);
  });

  const dedupMs = cfg.dedup_interval === undefined ? 0 : duration(cfg.dedup_interval, "dedup_interval", fail);
  if (dedupMs < 0 || (dedupMs > 0 && intervalMs % dedupMs !== 0)) fail("dedup_interval", "must divide `interval`");
  const stalenessMs = cfg.staleness_interval === undefined ? 2 * intervalMs : duration(cfg.staleness_interval, "staleness_interval", fail);
  if (stalenessMs < intervalMs) fail("staleness_interval", "must be at least `interval`");
  const keepNames = cfg.keep_metric_names ?? false;
  const fixedName = cfg.output_name ?? null;
  if ((keepNames || fixedName !== null) && outputs.length !== 1) fail(fixedName !== null ? "output_name" : "keep_metric_names", "needs exactly one output");
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
    flushOnShutdown: cfg.flush_on_shutdown ?? true,
    fixedName,
    suffixes,
    relabel,
    fingerprint,
  });
}

function duration(text: string, path: string, fail: (path: string, message: string, cause?: unknown) => never): number {
  try {
    return parseDuration(text);
  } catch (err) {
    return fail(path, (err as Error).message, err);
  }
}
