import type { Config } from "../config/schema.js";
import { DeviceRegistry, type RegistryEvents } from "../registry/registry.js";
import { AggregateStage } from "./aggregate/aggregate-stage.js";
import { DeriveStage } from "./derive/derive-stage.js";
import { EnrichStage } from "./enrich.js";
import { ExternalLabelsStage } from "./external-labels.js";
import { LimitsStage } from "./limits.js";
import { RelabelStage } from "./relabel-stage.js";
import type { Stage } from "./stage.js";
import type { DropFn } from "../metrics/drop-reasons.js";

export interface BuildDeps {
  onDrop: DropFn;
  /** Enrich misses, per registry (edgegate_enrich_misses_total). */
  onEnrichMiss?: (registry: string, samples: number) => void;
  /** Registry (re)load results; the first load of each registry happens in buildStages. */
  registryEvents?: RegistryEvents;
}

export interface BuiltStages {
  /** In pipeline order (labels are complete before filters see them, filters run before the costly stages): enrich → relabel → derive → limits → aggregate → external labels. */
  stages: Stage[];
  aggregate: AggregateStage;
  /** Device registries of `enrich` (loaded; the caller starts their reload polling and closes them). */
  registries: DeviceRegistry[];
  /** The global cardinality limiter, when `limits` sets one. */
  limits: LimitsStage | null;
}

type Built = Omit<BuiltStages, "stages">;

/**
 * The one table of pipeline stages, by name, in pipeline order (after decoding
 * and the per-topic relabel/limits of topic-stages.ts). Each
 * entry builds its stage from the config, or returns null when the config does
 * not use it (an unused stage costs nothing per sample).
 */
const STAGES: readonly { name: string; build: (config: Config, deps: BuildDeps, built: Built) => Stage | null }[] = [
  {
    name: "enrich",
    build: (config, deps, built) => {
      if (config.enrich.length === 0) return null;
      config.enrich.forEach((c, i) => {
        try {
          built.registries.push(new DeviceRegistry(c, deps.registryEvents));
        } catch (err) {
          throw new Error(`enrich[${i}]: ${(err as Error).message}`);
        }
      });
      return new EnrichStage(config.enrich, built.registries, deps.onEnrichMiss ?? (() => undefined));
    },
  },
  { name: "relabel", build: (config, deps) => (config.relabel_configs.length === 0 ? null : new RelabelStage(config.relabel_configs, deps.onDrop)) },
  { name: "derive", build: (config, deps) => (config.derive.length === 0 ? null : new DeriveStage(config.derive, deps.onDrop)) },
  {
    name: "limits",
    build: (config, deps, built) => {
      const limits = new LimitsStage(config.limits, deps.onDrop);
      if (limits.disabled) return null;
      built.limits = limits;
      return limits;
    },
  },
  { name: "aggregate", build: (_config, _deps, built) => built.aggregate },
  { name: "external_labels", build: (config) => new ExternalLabelsStage(config.external_labels) },
];

/** Names of the pipeline stages, in order. */
export const STAGE_NAMES: readonly string[] = STAGES.map((s) => s.name);

/**
 * Builds the pipeline's stages from a validated config. The gateway and
 * `device-sim verify` (which recomputes what the pipeline should have sent)
 * both use this, so there is one construction of the pipeline.
 * Throws an Error naming the config key when a rule does not compile, or when
 * a device registry cannot be loaded.
 */
export function buildStages(config: Config, deps: BuildDeps): BuiltStages {
  const aggregate = new AggregateStage({
    rules: config.aggregation,
    forwardUnmatched: config.forward_unmatched,
    onDrop: deps.onDrop,
    maxOpenWindows: config.limits.max_open_windows,
    maxGroups: config.limits.max_groups,
  });
  const built: Built = { aggregate, registries: [], limits: null };
  const stages: Stage[] = [];
  try {
    for (const entry of STAGES) {
      const stage = entry.build(config, deps, built);
      if (stage) stages.push(stage);
    }
  } catch (err) {
    for (const r of built.registries) r.close();
    throw err;
  }
  return { stages, ...built };
}
