import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RE2JS } from "re2js";
import { adoptParsedSelectors, compileSelector, preparseSelectors } from "../../gateway/prom/selector.js";
import { compileRegex } from "../../gateway/prom/regex.js";
import type { Labels } from "../../gateway/prom/sample.js";

/**
 * The config loader's thread parses the aggregation selectors and hands them
 * over (so the gateway's own thread never loads the PromQL parser); and
 * patterns of the simple shapes are accepted without asking RE2 (so it never
 * loads re2js for them). Both shortcuts must mean exactly what the long way does.
 * That the gateway's thread loads neither is test/integration/startup-footprint.test.ts.
 */

const SERIES: Labels[] = [
  { __name__: "vehicle_speed_kmh", fleet: "a", vin: "V1" },
  { __name__: "vehicle_rpm", fleet: "x", vin: "V2" },
  { __name__: "depot_temp", vin: "V3" },
  { __name__: "vehicle_speed_kmh", fleet: "a|b" },
  { __name__: "weird", v: 'a"b', fleet: "" },
];

describe("selectors handed over by the config loader's thread", () => {
  it("compile to the matchers parsing compiles (same series matched), for valid selectors only", () => {
    const texts = [
      '{__name__=~"vehicle_.*"}',
      'vehicle_speed_kmh{fleet="a"}',
      '{fleet!="x", __name__!~"depot_.+"}',
      '{vin=~"V[12]"}',
      '{fleet=~"a|b|"}',
      "{'v'=~'a\"b'}",
      '{vin=~"("}', // invalid regex: left out
      'rate(x[5m])', // not a selector: left out
    ];
    const parsed = preparseSelectors(texts);
    assert.deepEqual(Object.keys(parsed).sort(), texts.slice(0, 6).sort());
    // Plain data: survives the structured clone between threads unchanged.
    assert.deepEqual(structuredClone(parsed), parsed);
    const direct = texts.slice(0, 6).map((t) => compileSelector(t));
    try {
      adoptParsedSelectors(structuredClone(parsed));
      texts.slice(0, 6).forEach((t, i) => {
        const adopted = compileSelector(t);
        for (const s of SERIES) assert.equal(adopted(s), direct[i]!(s), `${t} on ${JSON.stringify(s)}`);
      });
      // A selector the loader left out is parsed where it is used, with the error it always had.
      assert.throws(() => compileSelector('{vin=~"("}'), /invalid series selector '\{vin=~"\("\}' at column 7: invalid regular expression/);
    } finally {
      adoptParsedSelectors({});
    }
  });

  it("a handed-over entry is what compileSelector uses (it does not parse the text again)", () => {
    // Deliberately inconsistent with its text, to show which one is used.
    adoptParsedSelectors({ '{a="1"}': [{ name: "a", op: "=", value: "2", at: 4 }] });
    try {
      assert.equal(compileSelector('{a="1"}')({ a: "2" }), true);
      assert.equal(compileSelector('{a="1"}')({ a: "1" }), false);
    } finally {
      adoptParsedSelectors({});
    }
    assert.equal(compileSelector('{a="1"}')({ a: "1" }), true);
  });
});

describe("patterns of the simple shapes need no RE2 check", () => {
  // Characters of every kind, regex syntax included, so generated strings hit the shapes' edges.
  const char = fc.constantFrom("a", "b", "_", "-", ":", "é", "😀", " ", "\n", "\ud800", "/", "#", ",", "=", "\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "^", "$", "|");
  const text = fc.array(char, { maxLength: 6 }).map((cs) => cs.join(""));
  const shaped = fc.oneof(
    text,
    text.map((t) => t + ".*"),
    fc.array(text, { minLength: 2, maxLength: 4 }).map((ts) => ts.join("|")),
    fc.constantFrom(".*", ".+", "", "|", "a||b"),
  );

  it("whatever compileRegex accepts without RE2, RE2 accepts too, and both match the same inputs", () => {
    const input = fc.array(fc.constantFrom("a", "b", "_", "é", "😀", "\n", "", ".*", "|"), { maxLength: 4 }).map((cs) => cs.join(""));
    fc.assert(
      fc.property(shaped, fc.array(input, { maxLength: 6 }), (pattern, inputs) => {
        let re2: RE2JS;
        try {
          RE2JS.compile(pattern);
          re2 = RE2JS.compile(`^(?s:${pattern})$`);
        } catch {
          // RE2 refuses it: so must compileRegex (the shortcut must not accept it).
          assert.throws(() => compileRegex(pattern), /invalid regular expression/);
          return;
        }
        const ours = compileRegex(pattern);
        for (const s of [...inputs, pattern.replace(/\.\*$/, "")]) assert.equal(ours.test(s), re2.test(s), `${JSON.stringify(pattern)} on ${JSON.stringify(s)}`);
      }),
      { numRuns: 2000 },
    );
  });
});
