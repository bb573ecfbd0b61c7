export { AggregateStage, type AggregateStageOptions } from "./aggregate-stage.js";
export type { AggregationOutput, OutputEmitter } from "./output.js";
export { OUTPUTS, createOutput, type OutputFactory } from "./outputs.js";
export { aggregatedName, groupingSuffix, outputSuffix, normalizeLabelList } from "./naming.js";
export type { SeriesRef } from "./series.js";
