export { AggregateStage, type AggregateStageOptions } from "./aggregate-stage.js";
export type { AggregationOutput, OutputEmitter, GroupContext, Json, SeriesCodec } from "./output.js";
export { OUTPUTS, createOutput, outputSpecError, type OutputFactory } from "./outputs.js";
export { aggregatedName, groupingSuffix, outputSuffix, normalizeLabelList } from "./naming.js";
export type { SeriesRef } from "./series.js";
export type { RestoreReport } from "./snapshot.js";
