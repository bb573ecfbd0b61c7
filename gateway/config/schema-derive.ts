import { z } from "zod";
import { compileExpr } from "../pipeline/derive/expr.js";

/** `derive` rules (gateway/pipeline/derive/derive-stage.ts); the language is in docs/pipeline.md. */
export const deriveSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "must be a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    .describe("Metric name of the derived sample, e.g. `vehicle_fuel_l_per_100km`."),
  expr: z
    .string()
    .min(1)
    .superRefine((src, ctx) => {
      try {
        compileExpr(src);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    })
    .describe("Expression over the signals of one message: numbers, signal names, + - * / %, == != < <= > >=, and/or/not, abs/min/max/clamp/if. E.g. `fuel_rate_lph / speed_kmh * 100`."),
  signal_prefix: z
    .string()
    .default("")
    .describe("Prepended to every signal name in `expr` to find its sample: with `vehicle_`, `speed_kmh` is the sample named `vehicle_speed_kmh`."),
});

export type DeriveRuleConfig = z.output<typeof deriveSchema>;
