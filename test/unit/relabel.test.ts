import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { relabelConfigSchema } from "../../gateway/config/schema-relabel.js";
import { applyRules, compileRelabelConfigs, relabelLabels } from "../../gateway/prom/relabel.js";
import { RelabelStage } from "../../gateway/pipeline/relabel-stage.js";
import type { Labels, Sample } from "../../gateway/prom/sample.js";

type Raw = Record<string, unknown>;

function run(input: Labels, configs: Raw[]): Labels | string {
  const rules = compileRelabelConfigs(configs.map((c) => relabelConfigSchema.parse(c)));
  const out = applyRules(input, rules);
  return typeof out === "string" ? out : { ...out };
}

/**
 * The TestRelabel table of prometheus/prometheus model/relabel/relabel_test.go,
 * ported as facts (same inputs, configs and expected outputs). Cases that rely
 * on UTF-8 label names are in the "deviations" block below.
 */
const PROMETHEUS_CASES: { name: string; input: Labels; relabel: Raw[]; output?: Labels; drop?: boolean }[] = [
  { name: "replace with ${1} twice", input: { a: "foo", b: "bar", c: "baz" },
    relabel: [{ source_labels: ["a"], regex: "f(.*)", target_label: "d", separator: ";", replacement: "ch${1}-ch${1}", action: "replace" }],
    output: { a: "foo", b: "bar", c: "baz", d: "choo-choo" } },
  { name: "two replaces, multiple sources", input: { a: "foo", b: "bar", c: "baz" },
    relabel: [
      { source_labels: ["a", "b"], regex: "f(.*);(.*)r", target_label: "a", separator: ";", replacement: "b${1}${2}m", action: "replace" },
      { source_labels: ["c", "a"], regex: "(b).*b(.*)ba(.*)", target_label: "d", separator: ";", replacement: "$1$2$2$3", action: "replace" },
    ],
    output: { a: "boobam", b: "bar", c: "baz", d: "boooom" } },
  { name: "drop stops the list", input: { a: "foo" },
    relabel: [
      { source_labels: ["a"], regex: ".*o.*", action: "drop" },
      { source_labels: ["a"], regex: "f(.*)", target_label: "d", separator: ";", replacement: "ch$1-ch$1", action: "replace" },
    ], drop: true },
  { name: "drop", input: { a: "foo", b: "bar" }, relabel: [{ source_labels: ["a"], regex: ".*o.*", action: "drop" }], drop: true },
  { name: "replace group in the middle", input: { a: "abc" },
    relabel: [{ source_labels: ["a"], regex: ".*(b).*", target_label: "d", separator: ";", replacement: "$1", action: "replace" }],
    output: { a: "abc", d: "b" } },
  { name: "drop without match", input: { a: "foo" }, relabel: [{ source_labels: ["a"], regex: "no-match", action: "drop" }], output: { a: "foo" } },
  { name: "drop regex is anchored", input: { a: "foo" }, relabel: [{ source_labels: ["a"], regex: "f|o", action: "drop" }], output: { a: "foo" } },
  { name: "keep without match", input: { a: "foo" }, relabel: [{ source_labels: ["a"], regex: "no-match", action: "keep" }], drop: true },
  { name: "keep with match", input: { a: "foo" }, relabel: [{ source_labels: ["a"], regex: "f.*", action: "keep" }], output: { a: "foo" } },
  { name: "no replacement without a match", input: { a: "boo" },
    relabel: [{ source_labels: ["a"], regex: "f", target_label: "b", replacement: "bar", action: "replace" }], output: { a: "boo" } },
  { name: "blank replacement deletes the label", input: { a: "foo", f: "baz" },
    relabel: [{ source_labels: ["a"], regex: "(f).*", target_label: "$1", replacement: "$2", action: "replace" }], output: { a: "foo" } },
  { name: "hashmod", input: { a: "foo", b: "bar", c: "baz" },
    relabel: [{ source_labels: ["c"], target_label: "d", separator: ";", action: "hashmod", modulus: 1000 }],
    output: { a: "foo", b: "bar", c: "baz", d: "976" } },
  { name: "hashmod of a value with a newline", input: { a: "foo\nbar" },
    relabel: [{ source_labels: ["a"], target_label: "b", separator: ";", action: "hashmod", modulus: 1000 }],
    output: { a: "foo\nbar", b: "734" } },
  { name: "labelmap", input: { a: "foo", b1: "bar", b2: "baz" },
    relabel: [{ regex: "(b.*)", replacement: "bar_${1}", action: "labelmap" }],
    output: { a: "foo", b1: "bar", b2: "baz", bar_b1: "bar", bar_b2: "baz" } },
  { name: "labelmap of __meta labels", input: { a: "foo", __meta_my_bar: "aaa", __meta_my_baz: "bbb", __meta_other: "ccc" },
    relabel: [{ regex: "__meta_(my.*)", replacement: "${1}", action: "labelmap" }],
    output: { a: "foo", __meta_my_bar: "aaa", __meta_my_baz: "bbb", __meta_other: "ccc", my_bar: "aaa", my_baz: "bbb" } },
  { name: "target from a group", input: { a: "some-name-value" },
    relabel: [{ source_labels: ["a"], regex: "some-([^-]+)-([^,]+)", action: "replace", replacement: "${2}", target_label: "${1}" }],
    output: { a: "some-name-value", name: "value" } },
  { name: "replacement of an unknown group is empty", input: { a: "some-name-value" },
    relabel: [{ source_labels: ["a"], regex: "some-([^-]+)-([^,]+)", action: "replace", replacement: "${3}", target_label: "${1}" }],
    output: { a: "some-name-value" } },
  { name: "invalid target labels are skipped", input: { a: "some-name-0" },
    relabel: [
      { source_labels: ["a"], regex: "some-([^-]+)-([^,]+)", action: "replace", replacement: "${1}", target_label: "${3}" },
      { source_labels: ["a"], regex: "some-([^-]+)-([^,]+)", action: "replace", replacement: "${1}", target_label: "${3}" },
      { source_labels: ["a"], regex: "some-([^-]+)(-[^,]+)", action: "replace", replacement: "${1}", target_label: "${3}" },
    ],
    output: { a: "some-name-0" } },
  { name: "real-life sd tags", input: { __meta_sd_tags: "path:/secret,job:some-job,label:foo=bar" },
    relabel: [
      { source_labels: ["__meta_sd_tags"], regex: "(?:.+,|^)path:(/[^,]+).*", action: "replace", replacement: "${1}", target_label: "__metrics_path__" },
      { source_labels: ["__meta_sd_tags"], regex: "(?:.+,|^)job:([^,]+).*", action: "replace", replacement: "${1}", target_label: "job" },
      { source_labels: ["__meta_sd_tags"], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", action: "replace", replacement: "${2}", target_label: "${1}" },
    ],
    output: { __meta_sd_tags: "path:/secret,job:some-job,label:foo=bar", __metrics_path__: "/secret", job: "some-job", foo: "bar" } },
  { name: "prometheus issue 12283", input: { __meta_kubernetes_pod_container_port_name: "foo", __meta_kubernetes_pod_annotation_XXX_metrics_port: "9091" },
    relabel: [
      { regex: "^__meta_kubernetes_pod_container_port_name$", action: "labeldrop" },
      { source_labels: ["__meta_kubernetes_pod_annotation_XXX_metrics_port"], regex: "(.+)", action: "replace", replacement: "metrics", target_label: "__meta_kubernetes_pod_container_port_name" },
      { source_labels: ["__meta_kubernetes_pod_container_port_name"], regex: "^metrics$", action: "keep" },
    ],
    output: { __meta_kubernetes_pod_annotation_XXX_metrics_port: "9091", __meta_kubernetes_pod_container_port_name: "metrics" } },
  { name: "labelkeep", input: { a: "foo", b1: "bar", b2: "baz" }, relabel: [{ regex: "(b.*)", action: "labelkeep" }], output: { b1: "bar", b2: "baz" } },
  { name: "labeldrop", input: { a: "foo", b1: "bar", b2: "baz" }, relabel: [{ regex: "(b.*)", action: "labeldrop" }], output: { a: "foo" } },
  { name: "uppercase and lowercase", input: { foo: "bAr123Foo" },
    relabel: [
      { source_labels: ["foo"], action: "uppercase", target_label: "foo_uppercase" },
      { source_labels: ["foo"], action: "lowercase", target_label: "foo_lowercase" },
    ],
    output: { foo: "bAr123Foo", foo_lowercase: "bar123foo", foo_uppercase: "BAR123FOO" } },
  { name: "keepequal, equal", input: { __tmp_port: "1234", __port1: "1234", __port2: "5678" },
    relabel: [{ source_labels: ["__tmp_port"], action: "keepequal", target_label: "__port1" }],
    output: { __tmp_port: "1234", __port1: "1234", __port2: "5678" } },
  { name: "dropequal, equal", input: { __tmp_port: "1234", __port1: "1234", __port2: "5678" },
    relabel: [{ source_labels: ["__tmp_port"], action: "dropequal", target_label: "__port1" }], drop: true },
  { name: "dropequal, different", input: { __tmp_port: "1234", __port1: "1234", __port2: "5678" },
    relabel: [{ source_labels: ["__tmp_port"], action: "dropequal", target_label: "__port2" }],
    output: { __tmp_port: "1234", __port1: "1234", __port2: "5678" } },
  { name: "keepequal, different", input: { __tmp_port: "1234", __port1: "1234", __port2: "5678" },
    relabel: [{ source_labels: ["__tmp_port"], action: "keepequal", target_label: "__port2" }], drop: true },
  { name: "dot matches newline", input: { a: "line1\nline2", b: "bar", c: "baz" },
    relabel: [{ source_labels: ["a"], regex: "line1.*line2", target_label: "d", separator: ";", replacement: "match${1}", action: "replace" }],
    output: { a: "line1\nline2", b: "bar", c: "baz", d: "match" } },
  { name: "named groups, ${name} and $name", input: { a: "line1\nline2", b: "bar", c: "baz" },
    relabel: [
      { source_labels: ["a"], regex: "(line1).*(?<second>line2)", target_label: "label1_${1}", separator: ";", replacement: "val_${second}", action: "replace" },
      { source_labels: ["a"], regex: "(line1).*(?<second>line2)", target_label: "label2_$1", separator: ";", replacement: "val_$second", action: "replace" },
    ],
    output: { a: "line1\nline2", b: "bar", c: "baz", label1_line1: "val_line2", label2_line1: "val_line2" } },
  { name: "__type__ from __name__", input: { __name__: "http_requests_total" },
    relabel: [{ source_labels: ["__name__"], regex: ".*_total$", target_label: "__type__", replacement: "counter", action: "replace" }],
    output: { __name__: "http_requests_total", __type__: "counter" } },
  { name: "__unit__ from __name__", input: { __name__: "disk_usage_bytes" },
    relabel: [{ source_labels: ["__name__"], regex: ".*_bytes$", target_label: "__unit__", replacement: "bytes", action: "replace" }],
    output: { __name__: "disk_usage_bytes", __unit__: "bytes" } },
];

describe("relabel: Prometheus relabel_test.go table", () => {
  for (const c of PROMETHEUS_CASES) {
    it(c.name, () => {
      const got = run(c.input, c.relabel);
      if (c.drop) assert.equal(got, "dropped");
      else assert.deepEqual(got, c.output);
    });
  }
});

describe("relabel: deviations (legacy label names only)", () => {
  it("a UTF-8 target label is a config error (Prometheus legacy validation; with UTF-8 names Prometheus 3 would set it)", () => {
    // relabel_test.go: TargetLabel "utf-8.label${1}" → {"utf-8.label": "match"} under UTF-8 validation.
    const r = relabelConfigSchema.safeParse({ source_labels: ["a"], regex: "line1.*line2", target_label: "utf-8.label${1}", replacement: "match${1}" });
    assert.equal(r.success, false);
  });
  it("labelmap to an invalid name is skipped for that label", () => {
    assert.deepEqual(run({ a_0x: "x", a_ok: "y" }, [{ regex: "a_(.*)", replacement: "${1}", action: "labelmap" }]), { a_0x: "x", a_ok: "y", ok: "y" });
  });
});

describe("relabel: semantics beyond the table", () => {
  const table: { name: string; input: Labels; relabel: Raw[]; want: Labels | string }[] = [
    { name: "defaults copy a label (replace, (.*), $1)", input: { a: "x" }, relabel: [{ source_labels: ["a"], target_label: "b" }], want: { a: "x", b: "x" } },
    { name: "absent source label is empty: fast path sets a static label", input: {}, relabel: [{ target_label: "env", replacement: "prod" }], want: { env: "prod" } },
    { name: "empty static replacement deletes", input: { env: "x" }, relabel: [{ target_label: "env", replacement: "" }], want: {} },
    { name: "$$ is a literal dollar", input: { a: "x" }, relabel: [{ source_labels: ["a"], target_label: "b", replacement: "$$1" }], want: { a: "x", b: "$1" } },
    { name: "$1x is the group named 1x (empty)", input: { a: "x" }, relabel: [{ source_labels: ["a"], target_label: "b", replacement: "$1x-" }], want: { a: "x", b: "-" } },
    { name: "a bare $ stays", input: { a: "x" }, relabel: [{ source_labels: ["a"], target_label: "b", replacement: "${-$" }], want: { a: "x", b: "${-$" } },
    { name: "separator joins sources, absent = empty", input: { a: "1", c: "3" }, relabel: [{ source_labels: ["a", "b", "c"], separator: "/", target_label: "d" }], want: { a: "1", c: "3", d: "1//3" } },
    { name: "action is case-insensitive", input: { a: "x" }, relabel: [{ source_labels: ["a"], regex: "x", action: "DROP" }], want: "dropped" },
    { name: "(?i) leading flag", input: { a: "FOO" }, relabel: [{ source_labels: ["a"], regex: "(?i)foo", action: "keep" }], want: { a: "FOO" } },
    { name: "(?P<name>) RE2 groups", input: { a: "k=v" }, relabel: [{ source_labels: ["a"], regex: "(?P<k>[a-z]+)=(?P<v>.*)", target_label: "${k}", replacement: "$v" }], want: { a: "k=v", k: "v" } },
    { name: "escaped punctuation (RE2 allows \\-)", input: { a: "a-b" }, relabel: [{ source_labels: ["a"], regex: "a\\-b", action: "keep" }], want: { a: "a-b" } },
    { name: "lowercase of empty deletes", input: { t: "x" }, relabel: [{ source_labels: ["nope"], target_label: "t", action: "lowercase" }], want: {} },
  ];
  for (const c of table) it(c.name, () => assert.deepEqual(run(c.input, c.relabel), c.want));

  it("removing __name__ → invalid_name; an invalid metric name too", () => {
    const rules = compileRelabelConfigs([relabelConfigSchema.parse({ regex: "__name__", action: "labeldrop" })]);
    assert.equal(relabelLabels({ __name__: "m", a: "b" }, rules), "invalid_name");
    const bad = compileRelabelConfigs([relabelConfigSchema.parse({ target_label: "__name__", replacement: "a-b" })]);
    assert.equal(relabelLabels({ __name__: "m" }, bad), "invalid_name");
  });

  it("never modifies its input", () => {
    const input = { __name__: "m", a: "x" };
    const rules = compileRelabelConfigs([relabelConfigSchema.parse({ regex: "a", action: "labeldrop" })]);
    relabelLabels(input, rules);
    assert.deepEqual(input, { __name__: "m", a: "x" });
  });
});

describe("relabel: config validation (Prometheus Config.Validate)", () => {
  const cases: { cfg: Raw; path: string; msg: RegExp }[] = [
    { cfg: { action: "replace" }, path: "target_label", msg: /requires 'target_label' value/ },
    { cfg: { action: "lowercase" }, path: "target_label", msg: /requires 'target_label' value/ },
    { cfg: { action: "lowercase", target_label: "${3}" }, path: "target_label", msg: /"\$\{3\}" is invalid 'target_label' for lowercase action/ },
    { cfg: { action: "hashmod", target_label: "x" }, path: "modulus", msg: /requires non-zero modulus/ },
    { cfg: { action: "replace", target_label: "-x" }, path: "target_label", msg: /invalid 'target_label'/ },
    { cfg: { action: "replace", target_label: "bar.foo${1}bar" }, path: "target_label", msg: /invalid 'target_label'/ },
    { cfg: { action: "labeldrop", regex: "a", target_label: "x" }, path: "action", msg: /requires only 'regex'/ },
    { cfg: { action: "keepequal", target_label: "x", regex: "a" }, path: "action", msg: /requires only 'source_labels'/ },
    { cfg: { action: "uppercase", target_label: "x", replacement: "y" }, path: "replacement", msg: /can not be set/ },
    { cfg: { action: "labelmap", replacement: "-$1" }, path: "replacement", msg: /invalid 'replacement'/ },
    { cfg: { action: "keep", regex: "a(" }, path: "regex", msg: /invalid regular expression/ },
    { cfg: { action: "explode" }, path: "action", msg: /replace/ },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.cfg)} → ${c.path}`, () => {
      const r = relabelConfigSchema.safeParse(c.cfg);
      assert.equal(r.success, false);
      const issue = r.error!.issues.find((i) => i.path.join(".") === c.path);
      assert.ok(issue, `no issue at ${c.path}: ${JSON.stringify(r.error!.issues)}`);
      assert.match(issue.message, c.msg);
    });
  }
  const valid: Raw[] = [
    { source_labels: ["a"], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}" },
    { regex: "__meta_kubernetes_pod_label_(strimzi_io_.+)", action: "labelmap", replacement: "$1" },
    { regex: "__meta_(.+)", action: "labelmap", replacement: "${1}" },
    { source_labels: ["a"], target_label: "b", action: "keepequal" },
  ];
  for (const v of valid) it(`valid: ${JSON.stringify(v)}`, () => assert.equal(relabelConfigSchema.safeParse(v).success, true));

  // TestTargetLabelLegacyValidity, through the replace action's target_label check.
  for (const [str, ok] of [["-label", false], ["label", true], ["label${1}", true], ["${1}label", true], ["${1}", true], ["${", false], ["$", false], ["${}", false], ["foo${", false], ["$1", true], ["asd$2asd", true], ["-foo${1}bar-", false], ["bar.foo${1}bar", false], ["_${1}_", true], ["foo${bar}foo", true]] as const) {
    it(`target_label ${JSON.stringify(str)} valid=${ok}`, () => assert.equal(relabelConfigSchema.safeParse({ target_label: str }).success, ok));
  }
});

describe("RelabelStage", () => {
  it("counts drops per reason and keeps the survivors in order", () => {
    const drops: [string, number][] = [];
    const stage = new RelabelStage(
      [relabelConfigSchema.parse({ source_labels: ["k"], regex: "x", action: "drop" }), relabelConfigSchema.parse({ source_labels: ["k"], regex: "y", target_label: "__name__", replacement: "" })],
      (r, n) => drops.push([r, n]),
    );
    const s = (k: string, v: number): Sample => ({ labels: { __name__: "m", k }, value: v, timestamp: 1 });
    const out = stage.process([s("x", 1), s("y", 2), s("z", 3), s("x", 4)]);
    assert.deepEqual(out.map((o) => o.value), [3]);
    assert.deepEqual(drops, [["relabel_drop", 2], ["relabel_invalid_metric_name", 1]]);
  });
  it("processCopy leaves the input samples alone", () => {
    const stage = new RelabelStage([relabelConfigSchema.parse({ regex: "k", action: "labeldrop" })], () => undefined, "write_relabel_drop");
    const input: Sample[] = [{ labels: { __name__: "m", k: "v" }, value: 1, timestamp: 1 }];
    const out = stage.processCopy(input);
    assert.deepEqual({ ...out[0]!.labels }, { __name__: "m" });
    assert.deepEqual(input[0]!.labels, { __name__: "m", k: "v" });
  });
});

describe("RE2 → JavaScript regex translation", async () => {
  const { compileRegex: compileRe2 } = await import("../../gateway/prom/regex.js");
  const cases: [string, string, boolean][] = [
    ["[]a]+", "]a", true], ["\\pL+", "äb", true], ["[[:digit:]]+", "123", true], ["[[:digit:]]+", "12a", false],
    ["(?m)a$", "a", true], ["(?m)a", "a\n", false], ["a\\z", "a", true], ["\\Aa", "a", true], ["a.b", "a\nb", true], ["f|o", "foo", false],
  ];
  for (const [re, s, want] of cases) it(`${re} on ${JSON.stringify(s)} → ${want}`, () => assert.equal(compileRe2(re).test(s), want));
  // RE2 accepts these (Prometheus does too): they once were refused here, now they run on RE2 itself.
  for (const [re, s, want] of [["a(?i)b", "aB", true], ["a(?i)b", "AB", false], ["\\Qa.\\E", "a.", true], ["\\Qa.\\E", "ab", false], ["(?U)a+", "aa", true]] as const) {
    it(`${re} on ${JSON.stringify(s)} → ${want} (as RE2)`, () => assert.equal(compileRe2(re).test(s), want));
  }
  for (const bad of ["a)|(b", "[[:nope:]]", "a**", "(?P<x>a)(?P<x>b)"]) it(`rejects ${bad}`, () => assert.throws(() => compileRe2(bad), /invalid regular expression/));
});
