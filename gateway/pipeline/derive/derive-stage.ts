import type { DeriveRuleConfig } from "../../config/schema-derive.js";
import type { Labels, Sample } from "../../prom/sample.js";
import type { Stage } from "../stage.js";
import { compileExpr, EVAL_DIVISION_BY_ZERO, EVAL_MISSING_SIGNAL, EVAL_OK, type EvalContext } from "./expr.js";
import type { DropFn } from "../../metrics/drop-reasons.js";

export type { DropFn } from "../../metrics/drop-reasons.js";

interface Rule {
  name: string;
  evaluate: (ctx: EvalContext) => number;
  /** Full metric names of the signals, indexed like the expression's slots. */
  metrics: string[];
  ctx: EvalContext;
}

/** One message: the samples sharing labels (minus __name__) and timestamp. */
interface Message {
  labels: Labels;
  timestamp: number;
  values: Map<string, number>;
}

/**
 * `derive`: new samples computed from the signals of one message.
 *
 * A batch is one MQTT message's samples (a backlog array holds several
 * objects); samples sharing all labels except `__name__` and the timestamp are
 * one message. Signal `x` of a rule is the sample named `signal_prefix + x`.
 * A rule runs for a message holding at least one of its signals; the derived
 * sample gets the message's labels and timestamp. A missing signal, a
 * division by zero or a non-finite result skips it, counted as
 * `derive_missing_signal`, `derive_division_by_zero`, `derive_non_finite`.
 */
export class DeriveStage implements Stage {
  readonly name = "derive";
  private readonly rules: Rule[];

  constructor(configs: readonly DeriveRuleConfig[], private readonly onDrop: DropFn) {
    this.rules = configs.map((c, i) => {
      let expr;
      try {
        expr = compileExpr(c.expr);
      } catch (err) {
        throw new Error(`derive[${i}].expr: ${(err as Error).message}`);
      }
      return {
        name: c.name,
        evaluate: expr.evaluate,
        metrics: expr.signals.map((s) => c.signal_prefix + s),
        ctx: { values: new Array<number | undefined>(expr.signals.length), error: EVAL_OK },
      };
    });
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  process(batch: Sample[]): Sample[] {
    if (this.rules.length === 0 || batch.length === 0) return batch;
    let missing = 0;
    let divZero = 0;
    let nonFinite = 0;
    for (const msg of groupMessages(batch)) {
      for (const rule of this.rules) {
        const ctx = rule.ctx;
        let any = false;
        for (let i = 0; i < rule.metrics.length; i++) {
          const v = msg.values.get(rule.metrics[i]!);
          ctx.values[i] = v;
          if (v !== undefined) any = true;
        }
        if (!any) continue; // this message is not about this rule's signals
        ctx.error = EVAL_OK;
        const value = rule.evaluate(ctx);
        if (ctx.error === EVAL_MISSING_SIGNAL) missing++;
        else if (ctx.error === EVAL_DIVISION_BY_ZERO) divZero++;
        else if (!Number.isFinite(value)) nonFinite++;
        else batch.push({ labels: Object.assign({ __name__: rule.name }, msg.labels), value, timestamp: msg.timestamp }); // not a spread: see json-decoder.ts
      }
    }
    if (missing > 0) this.onDrop("derive_missing_signal", missing);
    if (divZero > 0) this.onDrop("derive_division_by_zero", divZero);
    if (nonFinite > 0) this.onDrop("derive_non_finite", nonFinite);
    return batch;
  }
}

/** Groups a batch into messages; the common case (one message per batch) costs one key per sample. */
function groupMessages(batch: readonly Sample[]): Iterable<Message> {
  const messages = new Map<string, Message>();
  for (let i = 0; i < batch.length; i++) {
    const s = batch[i]!;
    const names = Object.keys(s.labels).sort();
    let key = String(s.timestamp);
    for (const n of names) if (n !== "__name__") key += "\u0000" + n + "\u0000" + s.labels[n]!;
    let msg = messages.get(key);
    if (msg === undefined) {
      const labels: Labels = {};
      for (const n of names) if (n !== "__name__") labels[n] = s.labels[n]!;
      msg = { labels, timestamp: s.timestamp, values: new Map() };
      messages.set(key, msg);
    }
    const name = s.labels["__name__"];
    if (name !== undefined) msg.values.set(name, s.value);
  }
  return messages.values();
}
