import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { relabelConfigSchema, type RelabelConfig } from "../../gateway/config/schema-relabel.js";
import { applyRules, compileRelabelConfigs, relabelLabels } from "../../gateway/prom/relabel.js";
import { decodeWriteRequest, encodeWriteRequest, toTimeSeries } from "../../gateway/remote-write/codec.js";
import { LABEL_NAME_RE, type Labels } from "../../gateway/prom/sample.js";

/** Small alphabets so rules and label sets actually collide. */
const name = fc.constantFrom("a", "b", "c", "__name__", "__tmp", "fleet", "vin", "a_b");
const value = fc.oneof(fc.constantFrom("", "x", "y", "a;b", "X-Y", "line\nbreak", "ü"), fc.string({ maxLength: 6 }));
const labelSet: fc.Arbitrary<Labels> = fc
  .dictionary(name, value.filter((v) => v !== ""), { maxKeys: 6 })
  .map((d) => ({ __name__: "m", ...d }));
const regex = fc.constantFrom("(.*)", "x", "(x|y)", ".*;.*", "(a)_(b)", "a.*", "(?i)x-y", "(.+)", "", "__.*", "(?P<n>[a-z])(.*)");
const template = fc.constantFrom("$1", "${1}", "$2", "${n}", "static", "", "$$", "p_$1", "${1}_${2}", "$0");

const ruleArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ action: fc.constant("replace"), source_labels: fc.array(name, { maxLength: 3 }), regex, target_label: fc.constantFrom("a", "b", "x_$1", "${1}", "__name__"), replacement: template }),
  fc.record({ action: fc.constantFrom("keep", "drop"), source_labels: fc.array(name, { minLength: 1, maxLength: 3 }), regex }),
  fc.record({ action: fc.constantFrom("keepequal", "dropequal"), source_labels: fc.array(name, { minLength: 1, maxLength: 2 }), target_label: name }),
  fc.record({ action: fc.constant("hashmod"), source_labels: fc.array(name, { minLength: 1, maxLength: 2 }), target_label: name, modulus: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({ action: fc.constant("labelmap"), regex, replacement: fc.constantFrom("$1", "p_$1", "${1}", "x") }),
  fc.record({ action: fc.constantFrom("labeldrop", "labelkeep"), regex }),
  fc.record({ action: fc.constantFrom("lowercase", "uppercase"), source_labels: fc.array(name, { minLength: 1, maxLength: 2 }), target_label: name }),
);

function parse(raw: Record<string, unknown>): RelabelConfig | null {
  const r = relabelConfigSchema.safeParse(raw);
  return r.success ? r.data : null;
}

describe("relabel properties", () => {
  it("keep and drop with the same source_labels and regex partition the input", () => {
    fc.assert(
      fc.property(labelSet, fc.array(name, { minLength: 1, maxLength: 3 }), regex, (labels, src, re) => {
        const keep = compileRelabelConfigs([parse({ action: "keep", source_labels: src, regex: re })!]);
        const drop = compileRelabelConfigs([parse({ action: "drop", source_labels: src, regex: re })!]);
        const kept = applyRules(labels, keep) !== "dropped";
        const notDropped = applyRules(labels, drop) !== "dropped";
        assert.notEqual(kept, notDropped);
      }),
    );
  });

  it("labeldrop never adds a label and never changes a value", () => {
    fc.assert(
      fc.property(labelSet, regex, (labels, re) => {
        const out = applyRules(labels, compileRelabelConfigs([parse({ action: "labeldrop", regex: re })!]));
        assert.notEqual(out, "dropped");
        for (const [k, v] of Object.entries(out as Labels)) assert.equal(labels[k], v);
      }),
    );
  });

  it("labeldrop and labelkeep with the same regex split the label names", () => {
    fc.assert(
      fc.property(labelSet, regex, (labels, re) => {
        const a = applyRules(labels, compileRelabelConfigs([parse({ action: "labeldrop", regex: re })!])) as Labels;
        const b = applyRules(labels, compileRelabelConfigs([parse({ action: "labelkeep", regex: re })!])) as Labels;
        assert.deepEqual([...Object.keys(a), ...Object.keys(b)].sort(), Object.keys(labels).sort());
      }),
    );
  });

  it("hashmod is in [0, modulus) and depends only on the joined values", () => {
    fc.assert(
      fc.property(labelSet, fc.integer({ min: 1, max: 2 ** 40 }), (labels, modulus) => {
        const rules = compileRelabelConfigs([parse({ action: "hashmod", source_labels: ["a", "b"], target_label: "h", modulus })!]);
        const out = applyRules(labels, rules) as Labels;
        const h = Number(out["h"]);
        assert.ok(Number.isInteger(h) && h >= 0 && h < modulus);
        const again = applyRules({ __name__: "other", a: labels["a"] ?? "", b: labels["b"] ?? "" }, rules) as Labels;
        assert.equal(again["h"], out["h"]);
      }),
    );
  });

  it("any rule list yields valid, non-empty labels that encode sorted and unique", () => {
    fc.assert(
      fc.property(labelSet, fc.array(ruleArb, { maxLength: 6 }), (labels, raws) => {
        const rules = compileRelabelConfigs(raws.map(parse).filter((r): r is RelabelConfig => r !== null));
        const out = relabelLabels(labels, rules);
        if (typeof out === "string") return;
        for (const [k, v] of Object.entries(out)) {
          assert.match(k, LABEL_NAME_RE);
          assert.notEqual(v, "");
        }
        const { series } = toTimeSeries([{ labels: out, value: 1, timestamp: 1 }]);
        const decoded = decodeWriteRequest(encodeWriteRequest(series));
        const names = decoded[0]!.labels.map((l) => l.name);
        assert.deepEqual(names, [...new Set(names)].sort());
        assert.ok(names.includes("__name__"));
      }),
      { numRuns: 500 },
    );
  });

  it("relabelling is deterministic and does not modify its input", () => {
    fc.assert(
      fc.property(labelSet, fc.array(ruleArb, { maxLength: 6 }), (labels, raws) => {
        const before = { ...labels };
        const rules = compileRelabelConfigs(raws.map(parse).filter((r): r is RelabelConfig => r !== null));
        const a = relabelLabels(labels, rules);
        const b = relabelLabels(labels, rules);
        assert.deepEqual(typeof a === "string" ? a : { ...a }, typeof b === "string" ? b : { ...b });
        assert.deepEqual(labels, before);
      }),
    );
  });
});
