import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RE2JS } from "re2js";
import { compileRegex } from "../../gateway/prom/regex.js";
import { compileSelector } from "../../gateway/prom/selector.js";
import { compileRelabelConfigs, relabelLabels } from "../../gateway/prom/relabel.js";
import { relabelConfigSchema } from "../../gateway/config/schema-relabel.js";

/**
 * The one regex implementation against RE2 itself (re2js, the JavaScript port
 * of RE2): generated RE2 patterns and inputs must give the same full match and
 * the same groups as RE2 on `^(?s:pattern)$`, whichever engine edgegate picked.
 */

const CHARS = ["a", "b", "c", "A", "B", "_", "-", ":", ".", "0", "1", "9", " ", "\n", "\r", "\t", "\v", "é", "É", "K", "ſ", "k", "s", "\u2028", "😀"];
const char = fc.constantFrom(...CHARS);
const input = fc.array(char, { maxLength: 8 }).map((cs) => cs.join(""));

const literal = fc.constantFrom("a", "b", "c", "A", "_", "-", ":", "0", "1", "é", "K", "s", " ", "\\.", "\\-", "\\:", "\\n", "\\t", "\\x41", "\\x{e9}", "\\{", "}", "]", "😀");
const cls = fc.constantFrom(
  ".", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\pL", "\\PL", "\\p{Lu}", "\\pN", "[abc]", "[^a]", "[a-c]", "[^a-c0-9]", "[[:alpha:]]", "[[:digit:]_]",
  "[[:^alpha:]]", "[\\d\\s]", "[^\\w]", "[\\W]", "[]a]", "[^]a]", "[a-]", "[\\-\\]]", "[[:space:]]", "[\\pL\\d]", "[é-ſ]",
);
const anchor = fc.constantFrom("^", "$", "\\A", "\\z", "\\b", "\\B");

const node: fc.Arbitrary<string> = fc.letrec((tie) => ({
  atom: fc.oneof({ weight: 4, arbitrary: literal }, { weight: 3, arbitrary: cls }, { weight: 1, arbitrary: anchor }, { weight: 2, arbitrary: tie("group") }),
  group: fc.tuple(fc.constantFrom("(", "(?:", "(?P<g>", "(?<h>", "(?i:", "(?s:"), tie("alt")).map(([open, body]) => `${open}${body})`),
  quantified: fc.tuple(tie("atom"), fc.constantFrom("", "", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{0,}", "{,2}")).map(([a, q]) => a + q),
  seq: fc.array(tie("quantified"), { minLength: 0, maxLength: 4 }).map((parts) => parts.join("")),
  alt: fc.array(tie("seq"), { minLength: 1, maxLength: 3 }).map((parts) => parts.join("|")),
})).alt as fc.Arbitrary<string>;

const pattern = fc.tuple(fc.constantFrom("", "", "(?i)", "(?s)", "(?m)", "(?is)", "(?U)"), node).map(([flags, body]) => flags + body);

function re2Reference(p: string): RE2JS | null {
  try {
    RE2JS.compile(p);
    return RE2JS.compile(`^(?s:${p})$`);
  } catch {
    return null;
  }
}

describe("prom regex: same answers as RE2", () => {
  it("accepts exactly what RE2 accepts", () => {
    fc.assert(
      fc.property(pattern, (p) => {
        let ours = true;
        try {
          compileRegex(p);
        } catch {
          ours = false;
        }
        assert.equal(ours, re2Reference(p) !== null, `pattern ${JSON.stringify(p)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("full match and every group agree with RE2 on generated patterns and inputs", () => {
    let v8 = 0;
    let re2 = 0;
    fc.assert(
      fc.property(pattern, fc.array(input, { minLength: 1, maxLength: 6 }), (p, inputs) => {
        const ref = re2Reference(p);
        fc.pre(ref !== null);
        const ours = compileRegex(p);
        if (ours.engine === "v8") v8++;
        else re2++;
        for (const s of inputs) {
          const want = ref!.exec(s) as (string | null)[] | null;
          const got = ours.exec(s);
          const where = `pattern ${JSON.stringify(p)} (${ours.engine}) on ${JSON.stringify(s)}`;
          assert.equal(ours.test(s), want !== null, where);
          assert.equal(got !== null, want !== null, where);
          if (got === null || want === null) continue;
          assert.deepEqual(Array.from({ length: got.length }, (_, i) => got[i] ?? null), want.map((g) => g ?? null), where);
        }
      }),
      { numRuns: 3000 },
    );
    // The generator must exercise both engines, or the comparison proves little.
    assert.ok(v8 > 300 && re2 > 100, `v8 ${v8}, re2 ${re2}`);
  });

  it("typical Prometheus patterns take the V8 translation (the fast path)", () => {
    for (const p of ["vehicle_.*", "(.*)_kmh", "fleet-(north|south)", "[a-z]+_[0-9]+", "(?i)warn.*", "V0+([1-9][0-9]*)", "(?P<dev>[^/]+)/.*"]) {
      assert.equal(compileRegex(p).engine, "v8", p);
    }
  });

  it("patterns that backtrack exponentially in V8 run on RE2, in linear time", () => {
    const r = compileRegex("(a+)+b");
    assert.equal(r.engine, "re2");
    assert.equal(r.test("a".repeat(5000) + "c"), false);
  });
});

/** The cases relabel and selectors used to disagree on: each must match as in Prometheus, in both places. */
const CASES: [string, string, boolean][] = [
  ["[[:alpha:]]+", "abc", true],
  ["[[:alpha:]]+", "ab1", false],
  ["\\Aab\\z", "ab", true],
  ["\\Aab\\z", "abc", false],
  ["(?P<x>a)b", "ab", true],
  ["(?P<x>a)b", "b", false],
  ["\\pL+", "äbc", true],
  ["\\pL+", "ab1", false],
  ["(?is)a.b", "A\nB", true],
  ["(?is)a.b", "a\nc", false],
  ["a(?i)b", "aB", true],
  ["\\s", "\v", false], // RE2's \s has no vertical tab; JavaScript's does
];

describe("prom regex: relabel and selectors agree", () => {
  for (const [re, value, want] of CASES) {
    it(`selector {v=~${JSON.stringify(re)}} on ${JSON.stringify(value)} → ${want}`, () => {
      const m = compileSelector(`{v=~${JSON.stringify(re)}}`);
      assert.equal(m({ __name__: "m", v: value }), want);
      const n = compileSelector(`{v!~${JSON.stringify(re)}}`);
      assert.equal(n({ __name__: "m", v: value }), !want);
    });
    it(`relabel keep regex ${JSON.stringify(re)} on ${JSON.stringify(value)} → ${want}`, () => {
      const rules = compileRelabelConfigs([relabelConfigSchema.parse({ action: "keep", source_labels: ["v"], regex: re })]);
      assert.equal(relabelLabels({ __name__: "m", v: value }, rules) !== "dropped", want);
    });
  }

  it("relabel replacement keeps Prometheus's $1 / ${name} semantics on both engines", () => {
    for (const [re, engine] of [["(?P<x>[a-z]+)-(\\d+)", "v8"], ["(?P<x>[a-z]+)-((?:\\d+)+)", "re2"]] as const) {
      assert.equal(compileRegex(re).engine, engine, re);
      const rules = compileRelabelConfigs([
        relabelConfigSchema.parse({ action: "replace", source_labels: ["v"], regex: re, target_label: "out", replacement: "${x}_${2}_${3}_$$_$2_" }),
      ]);
      assert.deepEqual({ ...(relabelLabels({ __name__: "m", v: "abc-42" }, rules) as object) }, { __name__: "m", v: "abc-42", out: "abc_42__$_" }); // `$2_` names group "2_" (Go Expand), which does not exist
    }
  });
});
