import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compileSelector, compileSelectors, SelectorError } from "../../gateway/prom/selector.js";
import type { Labels } from "../../gateway/prom/sample.js";

const speedA: Labels = { __name__: "vehicle_speed_kmh", fleet: "a", vin: "V1" };
const speedX: Labels = { __name__: "vehicle_speed_kmh", fleet: "x", vin: "V2" };
const rpmNoFleet: Labels = { __name__: "vehicle_rpm", vin: "V3" };
const weird: Labels = { __name__: "weird", v: 'a"b\'c\\d\ne\tf', "a.b": "dot", u: "é€😀", multi: "l1\nl2" };

interface Case {
  selector: string;
  matches: Labels[];
  rejects: Labels[];
}

function check(cases: Case[]): void {
  for (const c of cases) {
    it(c.selector, () => {
      const m = compileSelector(c.selector);
      for (const l of c.matches) assert.equal(m(l), true, `${c.selector} should match ${JSON.stringify(l)}`);
      for (const l of c.rejects) assert.equal(m(l), false, `${c.selector} should not match ${JSON.stringify(l)}`);
    });
  }
}

describe("selector: matcher kinds", () => {
  check([
    { selector: "vehicle_speed_kmh", matches: [speedA, speedX], rejects: [rpmNoFleet] },
    { selector: 'vehicle_speed_kmh{fleet="a"}', matches: [speedA], rejects: [speedX, rpmNoFleet] },
    { selector: '{fleet!="x"}', matches: [speedA, rpmNoFleet], rejects: [speedX] },
    { selector: '{__name__=~"vehicle_.*", fleet!="x"}', matches: [speedA, rpmNoFleet], rejects: [speedX, weird] },
    { selector: '{__name__!~"vehicle_rpm|weird"}', matches: [speedA, speedX], rejects: [rpmNoFleet, weird] },
    { selector: '{__name__="vehicle_rpm"}', matches: [rpmNoFleet], rejects: [speedA] },
    { selector: '{vin=~"V[12]"}', matches: [speedA, speedX], rejects: [rpmNoFleet] },
    { selector: '{vin=~"V1|V3"}', matches: [speedA, rpmNoFleet], rejects: [speedX] },
    { selector: '{vin=~"(?i)v1"}', matches: [speedA], rejects: [speedX] },
    { selector: '{vin=~"V\\\\-?1"}', matches: [speedA], rejects: [speedX] }, // RE2-style escaped punctuation
    { selector: '{u=~"é€."}', matches: [weird], rejects: [speedA] }, // `.` is one code point (astral)
    { selector: "{}", matches: [speedA, rpmNoFleet, weird], rejects: [] },
    { selector: 'vehicle_speed_kmh{fleet="a",}', matches: [speedA], rejects: [speedX] }, // trailing comma
    { selector: 'vehicle_speed_kmh # trailing comment', matches: [speedA], rejects: [rpmNoFleet] },
  ]);
});

describe("selector: regexes are fully anchored", () => {
  check([
    { selector: '{__name__=~"vehicle"}', matches: [], rejects: [speedA, rpmNoFleet] },
    { selector: '{__name__=~"speed"}', matches: [], rejects: [speedA] },
    { selector: '{__name__=~"vehicle_speed"}', matches: [], rejects: [speedA] },
    { selector: '{__name__=~"vehicle_.*"}', matches: [speedA, rpmNoFleet], rejects: [weird] },
    { selector: '{__name__=~"vehicle_speed_kmh|x"}', matches: [speedA], rejects: [rpmNoFleet] },
    { selector: '{__name__=~"a|vehicle_rpm"}', matches: [rpmNoFleet], rejects: [speedA] }, // alternation inside the anchors
    { selector: '{__name__=~"veh(i)cle_rpm|z"}', matches: [rpmNoFleet], rejects: [speedA] },
    { selector: '{__name__!~"vehicle"}', matches: [speedA, rpmNoFleet], rejects: [] },
    { selector: '{multi=~"l1.l2"}', matches: [weird], rejects: [] }, // `.` matches newline, as Prometheus's (?s:)
    { selector: '{multi=~"l1.*"}', matches: [weird], rejects: [speedA] },
  ]);
});

describe("selector: an absent label is the empty string", () => {
  check([
    { selector: '{fleet=""}', matches: [rpmNoFleet], rejects: [speedA] },
    { selector: '{fleet!=""}', matches: [speedA, speedX], rejects: [rpmNoFleet] },
    { selector: '{fleet=~".*"}', matches: [speedA, rpmNoFleet, weird], rejects: [] },
    { selector: '{fleet=~".+"}', matches: [speedA], rejects: [rpmNoFleet] },
    { selector: '{fleet!~".*"}', matches: [], rejects: [speedA, rpmNoFleet] },
    { selector: '{fleet=~"a|"}', matches: [speedA, rpmNoFleet], rejects: [speedX] },
    { selector: '{fleet!="a"}', matches: [speedX, rpmNoFleet], rejects: [speedA] },
    // Inherited members of a plain object are not labels.
    { selector: '{constructor=""}', matches: [speedA, weird], rejects: [] },
    { selector: '{toString!=""}', matches: [], rejects: [speedA] },
    { selector: '{constructor=~".+"}', matches: [], rejects: [speedA] },
  ]);
});

describe("selector: quoting and escapes (PromQL string literals)", () => {
  check([
    { selector: "vehicle_speed_kmh{fleet='a'}", matches: [speedA], rejects: [speedX] },
    { selector: "vehicle_speed_kmh{fleet=`a`}", matches: [speedA], rejects: [speedX] },
    { selector: String.raw`weird{v="a\"b'c\\d\ne\tf"}`, matches: [weird], rejects: [speedA] },
    { selector: String.raw`weird{v='a"b\'c\\d\ne\tf'}`, matches: [weird], rejects: [speedA] },
    { selector: "weird{v=`a\"b'c\\d\ne\tf`}", matches: [weird], rejects: [] }, // raw: real newline/tab, backslash kept
    { selector: String.raw`weird{u="\u00e9\u20ac\U0001F600"}`, matches: [weird], rejects: [] },
    { selector: String.raw`weird{u="\xc3\xa9\342\202\254😀"}`, matches: [weird], rejects: [] }, // \x and octal are bytes
    { selector: String.raw`weird{"a.b"="dot"}`, matches: [weird], rejects: [speedA] }, // quoted label name
    { selector: String.raw`{"weird"}`, matches: [weird], rejects: [speedA] }, // quoted metric name
    { selector: String.raw`{"weird", "a.b"=~"d.t"}`, matches: [weird], rejects: [speedA] },
  ]);

  it("a backtick string keeps backslashes literally", () => {
    const m = compileSelector("{p=`a\\nb`}");
    assert.equal(m({ __name__: "x", p: "a\\nb" }), true);
    assert.equal(m({ __name__: "x", p: "a\nb" }), false);
  });
});

describe("compileSelectors", () => {
  it("matches if any selector matches", () => {
    const m = compileSelectors(['vehicle_speed_kmh{fleet="a"}', "vehicle_rpm"]);
    assert.equal(m(speedA), true);
    assert.equal(m(rpmNoFleet), true);
    assert.equal(m(speedX), false);
  });
  it("accepts a single string or a one-element list", () => {
    assert.equal(compileSelectors("vehicle_rpm")(rpmNoFleet), true);
    assert.equal(compileSelectors(["vehicle_rpm"])(speedA), false);
  });
  it("an empty list matches nothing", () => {
    assert.equal(compileSelectors([])(speedA), false);
  });
  it("throws the first bad selector's error", () => {
    assert.throws(() => compileSelectors(["ok", "{a=}"]), SelectorError);
  });
});

describe("selector: errors name the column", () => {
  const cases: Array<[string, number, RegExp]> = [
    ["{a=}", 4, /unexpected "}"/],
    ["rate(x[5m])", 1, /function call/],
    ["sum(x)", 1, /aggregation/],
    ["x offset 5m", 3, /offset/],
    ["x[5m]", 2, /range/],
    ["x[5m:1m]", 2, /subquery/],
    ["x @ 100", 3, /@ modifier/],
    ["x + y", 3, /binary operator/],
    ["(x)", 1, /parentheses/],
    ["-x", 1, /unary operator/],
    ["42", 1, /a number/],
    ['{a="b"', 7, /end of input/],
    ['x{a="b"}}', 9, /unexpected "}"/],
    ["((x)", 5, /end of input/],
    ['{a="b}', 4, /unterminated quoted string/],
    ["", 1, /end of input/],
    ['x{a="b"} y', 10, /unexpected "y"/],
    [String.raw`x{a="\q"}`, 6, /unknown escape sequence \\q/],
    [String.raw`x{a='\"'}`, 6, /unknown escape sequence/], // Go: \" is only valid inside "..."
    [String.raw`x{a="\x4"}`, 6, /invalid escape/],
    [String.raw`x{a="\400"}`, 6, /octal/],
    [String.raw`x{a="\uD800"}`, 6, /code point/],
    [String.raw`x{a="\xff"}`, 5, /UTF-8/],
    ['x{a=~"a)|(b"}', 6, /invalid regular expression/], // cannot escape the anchors
    ['x{a=~"("}', 6, /invalid regular expression/],
    // `\pL` used to be refused here; it is RE2 (any letter) and now works as in Prometheus (prom-regex.test.ts).
    ['x{a=~"[[:nope:]]"}', 6, /invalid regular expression/],
    ['x{__name__="y"}', 3, /metric name set twice/],
    ['{"x", __name__="y"}', 7, /metric name set twice/],
  ];
  for (const [input, column, message] of cases) {
    it(JSON.stringify(input), () => {
      assert.throws(
        () => compileSelector(input),
        (err: unknown) => {
          assert.ok(err instanceof SelectorError, `expected SelectorError, got ${String(err)}`);
          assert.equal(err.position, column, err.message);
          assert.match(err.message, message);
          assert.ok(err.message.includes(`'${input}'`), `message quotes the selector: ${err.message}`);
          assert.ok(err.message.includes(`column ${column}`), err.message);
          return true;
        },
      );
    });
  }
});
