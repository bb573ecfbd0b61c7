import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileExpr, EVAL_DIVISION_BY_ZERO, EVAL_MISSING_SIGNAL, EVAL_OK, ExprError } from "../../gateway/pipeline/derive/expr.js";
import { DeriveStage } from "../../gateway/pipeline/derive/derive-stage.js";
import { deriveSchema } from "../../gateway/config/schema-derive.js";
import { parseConfig } from "../../gateway/config/load.js";
import type { Sample } from "../../gateway/prom/sample.js";

function evaluate(src: string, env: Record<string, number>): { value: number; error: number } {
  const e = compileExpr(src);
  const ctx = { values: e.signals.map((s) => env[s]), error: EVAL_OK };
  const value = e.evaluate(ctx);
  return { value, error: ctx.error };
}

describe("derive expressions", () => {
  const env = { speed_kmh: 80, fuel_rate_lph: 6.4, coolant_c: 108, ic_rpm: 0, electric_rpm: 1500, zero: 0, neg: -3 };
  const table: [string, number][] = [
    ["fuel_rate_lph / speed_kmh * 100", 8],
    ["ic_rpm != 0 or electric_rpm != 0", 1],
    ["ic_rpm != 0 and electric_rpm != 0", 0],
    ["coolant_c > 105", 1],
    ["coolant_c <= 105", 0],
    ["not coolant_c > 105", 0],
    ["not not 5", 1],
    ["1 + 2 * 3", 7],
    ["(1 + 2) * 3", 9],
    ["10 - 4 - 3", 3],
    ["2 * 3 % 4", 2],
    ["-7 % 3", -1],
    ["-neg", 3],
    ["- -2", 2],
    ["abs(neg)", 3],
    ["min(3, 1, 2)", 1],
    ["max(3, 1, 2)", 3],
    ["clamp(150, 0, 100)", 100],
    ["clamp(-5, 0, 100)", 0],
    ["if(speed_kmh > 0, 1, 2)", 1],
    ["if(zero, 1, 2)", 2],
    ["true + true", 2],
    ["false or 0.5", 1],
    ["1e3 + .5", 1000.5],
    ["1 == 1 and 2 >= 2 and 1 < 2 and 2 > 1", 1],
    ["clamp(if(speed_kmh > 0, fuel_rate_lph / 20 * 100, 0), 0, 100)", 32],
  ];
  for (const [src, want] of table) {
    it(`${src} = ${want}`, () => {
      const r = evaluate(src, env);
      assert.equal(r.error, EVAL_OK);
      assert.ok(Math.abs(r.value - want) < 1e-9, `got ${r.value}`);
    });
  }

  const skips: [string, Record<string, number>, number][] = [
    ["a / b", { a: 1, b: 0 }, EVAL_DIVISION_BY_ZERO],
    ["a % b", { a: 1, b: 0 }, EVAL_DIVISION_BY_ZERO],
    ["a / (b - b)", { a: 1, b: 2 }, EVAL_DIVISION_BY_ZERO],
    ["a + b", { a: 1 }, EVAL_MISSING_SIGNAL],
    ["not b", {}, EVAL_MISSING_SIGNAL],
    ["if(b, 1, 2)", {}, EVAL_MISSING_SIGNAL],
    ["a > 0 and b > 0", { a: 1 }, EVAL_MISSING_SIGNAL],
  ];
  for (const [src, e, code] of skips) it(`${src} with ${JSON.stringify(e)} → error ${code}`, () => assert.equal(evaluate(src, e).error, code));

  const lazy: [string, Record<string, number>, number][] = [
    ["a != 0 or b != 0", { a: 1 }, 1],
    ["a == 0 and b > 1", { a: 1 }, 0],
    ["if(a > 0, a, b)", { a: 2 }, 2],
    ["if(a > 0, b, a)", { a: -1 }, -1],
  ];
  for (const [src, e, want] of lazy) it(`lazy: ${src} with ${JSON.stringify(e)} = ${want}`, () => assert.deepEqual(evaluate(src, e), { value: want, error: EVAL_OK }));

  const errors: [string, number, RegExp][] = [
    ["a +", 4, /end of expression/],
    ["(a + b", 7, /expected "\)"/],
    ["a = 1", 3, /use ==/],
    ["a && b", 3, /use and, or, not/],
    ["foo(1)", 1, /unknown function "foo"/],
    ["clamp(1, 2)", 1, /clamp\(\) takes 3 arguments, got 2/],
    ["min(1)", 1, /at least 2/],
    ["1 < 2 < 3", 7, /cannot be chained/],
    ["a b", 3, /unexpected "b"/],
    ["and", 1, /expected a number/],
    ["", 1, /end of expression/],
    ["a $ b", 3, /unexpected character "\$"/],
  ];
  for (const [src, pos, msg] of errors) {
    it(`error: ${JSON.stringify(src)} at column ${pos}`, () => {
      assert.throws(() => compileExpr(src), (err: unknown) => err instanceof ExprError && err.position === pos && msg.test(err.message));
    });
  }

  it("signals are listed once, in order of appearance", () => {
    assert.deepEqual(compileExpr("b + a * b + if(c, a, d)").signals, ["b", "a", "c", "d"]);
  });

  it("a config error names the key path and the column", () => {
    const yaml = `topics: [{topic: "t/{id}"}]\nremote_write: [{url: "http://127.0.0.1:9/api/v1/write"}]\nderive:\n  - {name: x, expr: "a / (b"}\n`;
    assert.throws(() => parseConfig(yaml, "test.yaml"), /derive\[0\]\.expr: column 7: expected "\)"/);
    assert.equal(deriveSchema.safeParse({ name: "1bad", expr: "1" }).success, false);
  });
});

describe("DeriveStage", () => {
  const rules = [
    { name: "vehicle_fuel_l_per_100km", expr: "fuel_rate_lph / speed_kmh * 100", signal_prefix: "vehicle_" },
    { name: "vehicle_in_motion", expr: "ic_rpm != 0 or electric_rpm != 0", signal_prefix: "vehicle_" },
    { name: "vehicle_overheating", expr: "coolant_c > 105", signal_prefix: "vehicle_" },
  ];
  const msg = (vin: string, ts: number, fields: Record<string, number>): Sample[] =>
    Object.entries(fields).map(([k, v]) => ({ labels: { __name__: `vehicle_${k}`, vin }, value: v, timestamp: ts }));
  const derived = (out: Sample[]) => out.filter((s) => !["vehicle_speed_kmh", "vehicle_fuel_rate_lph", "vehicle_coolant_c", "vehicle_ic_rpm", "vehicle_electric_rpm"].includes(s.labels["__name__"]!))
    .map((s) => [s.labels["__name__"], s.labels["vin"], s.value, s.timestamp]);

  it("derives one sample per rule per message, with the message's labels and timestamp", () => {
    const drops: [string, number][] = [];
    const stage = new DeriveStage(rules, (r, n) => drops.push([r, n]));
    const input = msg("V1", 1000, { speed_kmh: 80, fuel_rate_lph: 6.4, coolant_c: 108, ic_rpm: 0, electric_rpm: 1500 });
    const out = stage.process(input.slice());
    assert.equal(out.length, input.length + 3);
    assert.deepEqual(derived(out), [["vehicle_fuel_l_per_100km", "V1", 8, 1000], ["vehicle_in_motion", "V1", 1, 1000], ["vehicle_overheating", "V1", 1, 1000]]);
    assert.deepEqual(drops, []);
  });

  it("a backlog batch is several messages (by timestamp and labels); skips are counted", () => {
    const drops: [string, number][] = [];
    const stage = new DeriveStage(rules, (r, n) => drops.push([r, n]));
    const input = [
      ...msg("V1", 1000, { speed_kmh: 0, fuel_rate_lph: 1, ic_rpm: 0 }), // division by zero; in_motion misses electric_rpm
      ...msg("V1", 2000, { speed_kmh: 50, fuel_rate_lph: 5 }), // fuel = 10
      ...msg("V2", 1000, { coolant_c: 90 }), // overheating = 0
      { labels: { __name__: "other_metric", vin: "V3" }, value: 1, timestamp: 1000 }, // no rule's signals: nothing, not counted
    ];
    const out = stage.process(input.slice());
    assert.deepEqual(derived(out).filter((d) => d[0] !== "other_metric"), [["vehicle_fuel_l_per_100km", "V1", 10, 2000], ["vehicle_overheating", "V2", 0, 1000]]);
    assert.deepEqual(drops.sort(), [["derive_division_by_zero", 1], ["derive_missing_signal", 1]]);
  });

  it("a non-finite result is skipped and counted", () => {
    const drops: [string, number][] = [];
    const stage = new DeriveStage([{ name: "big", expr: "x * 1e308 * 10", signal_prefix: "" }], (r, n) => drops.push([r, n]));
    const out = stage.process([{ labels: { __name__: "x" }, value: 1, timestamp: 1 }]);
    assert.equal(out.length, 1);
    assert.deepEqual(drops, [["derive_non_finite", 1]]);
  });
});
