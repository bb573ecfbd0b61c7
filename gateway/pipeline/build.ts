import type { Config } from "../config/schema.js";
import { AggregateStage } from "./aggregate/aggregate-stage.js";
import { ExternalLabelsStage } from "./external-labels.js";
import type { Stage } from "./stage.js";

export interface BuiltStages {
  /** In pipeline order (DESIGN.md): … → aggregate → external labels. */
  stages: Stage[];
  aggregate: AggregateStage;
}

/**
 * Builds the pipeline's stages from a validated config. The gateway and
 * `device-sim verify` (which recomputes what the pipeline should have sent)
 * both use this, so there is one construction of the pipeline.
 * Throws an Error naming the config key when a rule does not compile.
 */
export function buildStages(config: Config, deps: { onDrop: (reason: string, samples: number) => void }): BuiltStages {
  const aggregate = new AggregateStage({ rules: config.aggregation, forwardUnmatched: config.forward_unmatched, onDrop: deps.onDrop });
  return { stages: [aggregate, new ExternalLabelsStage(config.external_labels)], aggregate };
}
